"""python -m simulators.cainiao --host 127.0.0.1 --port 8721 [--config file.json]"""
from simulators import serve
from simulators.cainiao.app import create_app

if __name__ == "__main__":
    serve("simulators.cainiao", create_app, default_port=8721)
