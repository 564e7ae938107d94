#!/usr/bin/python3
"""A proxyless gRPC C-core client (Debian's python3-grpcio) for Sluice's interop tests.

Usage: grpc_core_client.py <target>   (GRPC_XDS_BOOTSTRAP names the bootstrap file)

Reads one JSON command per line on stdin and answers one JSON line on stdout:
  {"op": "tally", "count": N, "concurrency": C, "metadata": {...}, "timeoutMs": T}
      -> {"counts": {"v1": n, "error:14": n, ...}}   answers per backend version or status code
  {"op": "load", "loops": [{"metadata": {...}}, ...], "pauseMs": P}
      -> {"started": true}    background calls, one thread per loop, until "stop"
  {"op": "take"} -> {"counts": [{...}, ...]}   per loop, since the last take
  {"op": "stop"} -> {"stopped": true}
  {"op": "version"} -> {"grpc": "1.51.1"}
The echo backends speak JSON over gRPC, so no generated stubs are needed:
the generic unary_unary API sends raw bytes.
"""
import json
import sys
import threading
import time

import grpc

METHOD = "/sluice.test.Echo/Whoami"


def outcome(future):
    try:
        return json.loads(future.result().decode() or "{}").get("version", "?")
    except grpc.RpcError as error:
        return "error:%d" % error.code().value[0]


def add(counts, key):
    counts[key] = counts.get(key, 0) + 1


def main():
    target = sys.argv[1]
    channel = grpc.insecure_channel("xds:///" + target)
    whoami = channel.unary_unary(METHOD)
    lock = threading.Lock()
    loops = []
    running = threading.Event()

    def call(metadata, timeout_ms):
        return whoami.future(b"{}", timeout=timeout_ms / 1000.0, metadata=tuple(metadata.items()))

    def tally(command):
        counts = {}
        count = int(command.get("count", 1))
        concurrency = max(1, int(command.get("concurrency", 20)))
        metadata = command.get("metadata", {})
        timeout_ms = command.get("timeoutMs", 5000)
        done = 0
        while done < count:
            batch = [call(metadata, timeout_ms) for _ in range(min(concurrency, count - done))]
            for future in batch:
                add(counts, outcome(future))
            done += len(batch)
        return {"counts": counts}

    def load_loop(index, metadata, pause):
        while running.is_set():
            result = outcome(call(metadata, 2000))
            with lock:
                add(loops[index], result)
            if pause:
                time.sleep(pause)

    threads = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        command = json.loads(line)
        op = command.get("op")
        if op == "tally":
            answer = tally(command)
        elif op == "load":
            running.set()
            pause = command.get("pauseMs", 2) / 1000.0
            for spec in command.get("loops", [{}]):
                loops.append({})
                thread = threading.Thread(target=load_loop, args=(len(loops) - 1, spec.get("metadata", {}), pause), daemon=True)
                threads.append(thread)
                thread.start()
            answer = {"started": True}
        elif op == "take":
            with lock:
                answer = {"counts": [dict(c) for c in loops]}
                for c in loops:
                    c.clear()
        elif op == "stop":
            running.clear()
            for thread in threads:
                thread.join(5)
            answer = {"stopped": True}
        elif op == "version":
            answer = {"grpc": grpc.__version__}
        else:
            answer = {"error": "unknown op %r" % op}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    running.clear()
    channel.close()


if __name__ == "__main__":
    main()
