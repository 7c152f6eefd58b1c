"""python -m simulators.ufida --host 127.0.0.1 --port 8702 [--config file.json]"""
from simulators import serve
from simulators.ufida.app import create_app

if __name__ == "__main__":
    serve("simulators.ufida", create_app, default_port=8702)
