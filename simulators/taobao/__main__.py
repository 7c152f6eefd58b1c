"""python -m simulators.taobao --host 127.0.0.1 --port 8711 [--config file.json]"""
from simulators import serve
from simulators.taobao.app import create_app

if __name__ == "__main__":
    serve("simulators.taobao", create_app, default_port=8711)
