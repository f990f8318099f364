"""Code generated from proto/retryd/v1/retryd.proto by grpcio-tools (see clients/python/generate)."""
