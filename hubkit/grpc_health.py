"""`python -m hubkit.grpc_health PORT`: exit 0 when the gRPC health service says SERVING
(for docker-compose health checks; Kubernetes uses its native gRPC probe)."""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, timeout: float = 2.0) -> bool:
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "50051"
    sys.exit(0 if check(port if ":" in port else f"127.0.0.1:{port}") else 1)
