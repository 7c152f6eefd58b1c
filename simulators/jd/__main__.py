"""python -m simulators.jd --host 127.0.0.1 --port 8704 [--config file.json]"""
from simulators import serve
from simulators.jd.app import create_app

if __name__ == "__main__":
    serve("simulators.jd", create_app, default_port=8704)
