#!/usr/bin/python3
"""gRPC C-core (Debian's python3-grpcio) with xDS credentials, for Sluice's mTLS interop test.

Usage (GRPC_XDS_BOOTSTRAP_CONFIG holds the bootstrap, with certificate_providers):
  grpc_core_mtls.py client <target> <count>
      calls xds:///<target> <count> times with xds_channel_credentials and prints
      {"answers": {"hello": n, "error:7": n, ...}}
  grpc_core_mtls.py server <host:port>
      serves /sluice.test.Greeter/Hello on an xDS-enabled server (its listener,
      TLS and RBAC from the control plane), prints {"ready": true}, runs until stdin closes.
The messages are JSON bytes, so no generated stubs are needed.
"""
import json
import sys
from concurrent import futures

import grpc
import grpc.experimental

METHOD = "/sluice.test.Greeter/Hello"


def client(target, count):
    channel = grpc.secure_channel("xds:///" + target, grpc.xds_channel_credentials(grpc.experimental.insecure_channel_credentials()))
    hello = channel.unary_unary(METHOD)
    answers = {}
    for _ in range(count):
        try:
            key = json.loads(hello(b"{}", timeout=5).decode() or "{}").get("greeting", "?")
        except grpc.RpcError as error:
            key = "error:%d" % error.code().value[0]
        answers[key] = answers.get(key, 0) + 1
    print(json.dumps({"answers": answers}), flush=True)


def server(address):
    def hello(request, context):
        return json.dumps({"greeting": "hello from c-core"}).encode()

    handler = grpc.method_handlers_generic_handler("sluice.test.Greeter", {"Hello": grpc.unary_unary_rpc_method_handler(hello)})
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4), xds=True)
    srv.add_generic_rpc_handlers((handler,))
    srv.add_secure_port(address, grpc.xds_server_credentials(grpc.insecure_server_credentials()))
    srv.start()
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.read()
    srv.stop(0)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        server(sys.argv[2])
