"""confluent-kafka (librdkafka) peer of the Kafka end-to-end tests.

  produce BOOTSTRAP CLIENT_ID SPEC...   SPEC: topic:partition:key:value[:traceparent]; all are
                                        queued, then flushed (one Produce request per broker
                                        when they fit its linger window)
  consume BOOTSTRAP GROUP TOPIC COUNT   subscribe as GROUP, print "topic partition offset key"
                                        per message until COUNT arrived
  consume-call BOOTSTRAP GROUP TOPIC COUNT URL
                                        the same, and GET URL/KEY for each message while
                                        processing it; after the loop, GET URL/after-close from
                                        this thread and URL/timer from a timer's thread
"""
import sys
import threading
import urllib.request

from confluent_kafka import Consumer, Producer


def produce(bootstrap, client_id, specs):
    p = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 200})
    # Leaders known before the first message: a message queued while metadata is still being
    # fetched can leave in a request of its own, splitting the batch the test expects.
    p.list_topics(timeout=10)
    for spec in specs:
        parts = spec.split(":", 4)
        topic, partition, key, value = parts[:4]
        headers = [("traceparent", parts[4])] if len(parts) > 4 else None
        p.produce(topic, value=value.encode(), key=key.encode() or None, partition=int(partition),
                  headers=headers)
    if p.flush(15) != 0:
        sys.exit("messages left unsent")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        r.read()
        print(url, r.status, flush=True)


def consume(bootstrap, group, topic, count, call_url=None):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "py-consumer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": True})
    c.subscribe([topic])
    got = 0
    while got < count:
        m = c.poll(15)
        if m is None:
            sys.exit("timed out after %d messages" % got)
        if m.error():
            continue
        key = (m.key() or b"").decode()
        print(m.topic(), m.partition(), m.offset(), key, flush=True)
        if call_url:
            get(call_url + "/" + key)
        got += 1
    c.close()
    if call_url:
        get(call_url + "/after-close")
        timer = threading.Timer(0.1, get, [call_url + "/timer"])
        timer.start()
        timer.join()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif mode == "consume-call":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
