"""python -m simulators.kingdee --host 127.0.0.1 --port 8701 [--config file.json]"""
from simulators import serve
from simulators.kingdee.app import create_app

if __name__ == "__main__":
    serve("simulators.kingdee", create_app, default_port=8701)
