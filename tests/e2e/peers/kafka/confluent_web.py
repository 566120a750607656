"""An HTTP service whose handlers produce with confluent-kafka (librdkafka), for the
end-to-end tests of linking librdkafka's sends to the requests that produced them.

  confluent_web.py PORT BOOTSTRAP TOPIC LINGER_MS

  GET /sync/KEY    produce KEY (value "value-KEY") to TOPIC partition 0 and wait for its
                   delivery; answers "OFFSET". Produce and flush are serialized, so each
                   message leaves in a Produce request of its own while the requests are
                   served concurrently.
  GET /queue/KEY   produce KEY and answer at once: messages of concurrent requests leave
                   together after LINGER_MS, in one batch.
  GET /flush       wait for every queued message; answers "KEY OFFSET" lines.
  GET /many/N      produce N messages (bench/kafka_produce_probe.sh); answers the mean
                   nanoseconds per produce call.
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import Producer

PORT, BOOTSTRAP, TOPIC, LINGER_MS = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
producer = Producer({"bootstrap.servers": BOOTSTRAP, "client.id": "py-web",
                     "linger.ms": LINGER_MS})
producer.list_topics(timeout=10)  # leaders known before the first message
serial = threading.Lock()
offsets = {}  # key -> offset, from delivery reports
offsets_lock = threading.Lock()


def delivered(err, msg):
    with offsets_lock:
        offsets[msg.key().decode()] = -1 if err else msg.offset()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def produce(self, key):
        producer.produce(TOPIC, value=("value-" + key).encode(), key=key.encode(), partition=0,
                         on_delivery=delivered)

    def do_GET(self):
        parts = self.path.split("/")
        if parts[1] == "sync":
            with serial:
                self.produce(parts[2])
                producer.flush(15)
            with offsets_lock:
                self.answer(str(offsets.get(parts[2], -2)))
        elif parts[1] == "queue":
            self.produce(parts[2])
            self.answer("queued")
        elif parts[1] == "many":
            n = int(parts[2])
            start = time.perf_counter_ns()
            for i in range(n):
                producer.produce(TOPIC, value=b"bench-value", key=b"bench-%d" % i, partition=0)
                if i % 1000 == 999:
                    producer.poll(0)
            elapsed = time.perf_counter_ns() - start
            producer.flush(60)
            self.answer("%d" % (elapsed // n))
        elif parts[1] == "flush":
            left = producer.flush(15)
            with offsets_lock:
                self.answer("".join("%s %d\n" % kv for kv in sorted(offsets.items())) +
                            ("left %d\n" % left if left else ""))
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
