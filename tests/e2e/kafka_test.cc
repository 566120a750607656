// Kafka against a real broker (librdkafka's mock cluster, peers/kafka/broker.c) and real
// clients: kcat and Python confluent-kafka (librdkafka), kafkajs, Go sarama. Exact send and receive spans
// (topic, partition, offsets, counts, keys, consumer group), every codec, a multi-topic
// produce, and links from record headers and from the offsets of traced sends.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fs::path broker_binary() {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path src = peers_dir() / "kafka" / "broker.c";
  const fs::path out = dir / "ztrace-e2e-kafka-broker";
  BuildLock lock(dir);
  if (up_to_date(out, src)) return out;
  auto r = run_command(dir, {"gcc", "-O1", "-o", out.string(), src.string(), "-lrdkafka"}, 120s);
  if (r.exit_code != 0) throw std::runtime_error("gcc broker.c failed:\n" + r.describe);
  return out;
}

struct Broker {
  Process process;
  std::string bootstrap;  // 127.0.0.1:PORT
  int port = 0;
};

// The broker with topics `topics` (2 partitions each); returns once it prints its address.
Broker start_broker(const fs::path& dir, std::vector<std::string> topics) {
  std::vector<std::string> argv = {broker_binary().string(), "240"};
  argv.insert(argv.end(), topics.begin(), topics.end());
  Process p({.argv = argv, .stdout_path = dir / "broker.out", .stderr_path = dir / "broker.err"});
  std::string line;
  wait_until(
      [&] {
        line = read_file(dir / "broker.out");
        return line.find('\n') != std::string::npos;
      },
      10s);
  line = line.substr(0, line.find('\n'));
  const auto colon = line.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("no broker address:\n" + p.describe());
  const int port = std::stoi(line.substr(colon + 1));
  return {std::move(p), line, port};
}

std::vector<Span> named(const std::vector<Span>& spans, std::string_view name) {
  std::vector<Span> out;
  for (const Span& s : spans)
    if (s.name == name) out.push_back(s);
  return out;
}

std::string str(const Span& s, std::string_view key) {
  return s.attr_str(key).value_or("<absent>");
}
int64_t num(const Span& s, std::string_view key) { return s.attr_int(key).value_or(-1); }

// "trace_id/span_id" of every link of a span.
std::set<std::string> links_of(const Span& s) {
  std::set<std::string> out;
  if (!s.raw.contains("links")) return out;
  for (const auto& l : s.raw["links"]) {
    out.insert(l["trace_id"].get<std::string>() + "/" + l["span_id"].get<std::string>());
  }
  return out;
}
std::string context_of(const Span& s) { return s.trace_id + "/" + s.span_id; }
const std::string kHeaderContext = "4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7";

void check_send(const Span& s, std::string_view topic, int partition, int64_t offset,
                std::string_view client_id, int port) {
  CHECK(s.kind == "PRODUCER");
  CHECK(s.name == "send " + std::string(topic));
  CHECK(str(s, "messaging.system") == "kafka");
  CHECK(str(s, "messaging.operation.type") == "send");
  CHECK(str(s, "messaging.destination.name") == topic);
  CHECK(str(s, "messaging.destination.partition.id") == std::to_string(partition));
  CHECK(num(s, "messaging.kafka.offset") == offset);
  CHECK(str(s, "messaging.client.id") == client_id);
  CHECK(str(s, "server.address") == "127.0.0.1");
  CHECK(num(s, "server.port") == port);
  CHECK(s.status_code == "UNSET");
}

// The send of `key`'s single message is the child of `server` (the request that produced it),
// with the offset `expected` says (topic, partition, offset, client id, broker port).
struct ExpectedSend {
  std::string_view topic;
  int64_t offset;
  std::string_view client_id;
  int port;
};
void check_send_under(const std::vector<Span>& sends, const Span& server, const std::string& key,
                      const ExpectedSend& expected) {
  auto it = std::find_if(sends.begin(), sends.end(), [&](const Span& s) {
    return str(s, "messaging.kafka.message.key") == key;
  });
  REQUIRE(it != sends.end());
  check_send(*it, expected.topic, 0, expected.offset, expected.client_id, expected.port);
  CHECK(it->trace_id == server.trace_id);
  CHECK(it->parent_span_id == server.span_id);
}

// Which Produce and Fetch versions a client used (ctest -V shows them).
void log_versions(std::string_view client, const std::vector<Span>& spans) {
  std::set<std::string> seen;
  for (const Span& s : spans) {
    if (auto v = s.attr_int("ztrace.kafka.api_version")) {
      seen.insert((s.kind == "PRODUCER" ? "Produce v" : "Fetch v") + std::to_string(*v));
    }
  }
  std::cout << "kafka versions, " << client << ":";
  for (const auto& v : seen) std::cout << " " << v;
  std::cout << "\n";
}

// Receive spans of one partition, in offset order; CHECKs they cover `count` records from 0.
std::vector<Span> receives_of(const std::vector<Span>& spans, std::string_view topic, int partition,
                              int64_t count) {
  std::vector<Span> out;
  for (const Span& s : named(spans, "receive " + std::string(topic))) {
    if (str(s, "messaging.destination.partition.id") == std::to_string(partition)) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const Span& a, const Span& b) {
    return num(a, "messaging.kafka.offset") < num(b, "messaging.kafka.offset");
  });
  int64_t next = 0;
  for (const Span& s : out) {
    CHECK(s.kind == "CLIENT");
    CHECK(str(s, "messaging.operation.type") == "receive");
    CHECK(num(s, "messaging.kafka.offset") == next);
    next += s.attr_int("messaging.batch.message_count").value_or(1);
  }
  CHECK(next == count);
  return out;
}

}  // namespace

TEST_CASE("kafka kcat: send spans per codec, one receive linked by header and by offset",
          "[e2e][kafka][kcat]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_kcat");
  Broker broker = start_broker(dir, {"orders"});
  Agent agent(dir, {.ports = {broker.port}});

  // One message per kcat run, so that each codec is its own batch; values compress well
  // (librdkafka sends a batch uncompressed when compressing does not shrink it).
  const std::vector<std::string> codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
  const std::string value(3000, 'x');
  write_file(dir / "value.txt", value + "\n");
  std::vector<pid_t> producers;
  for (const std::string& codec : codecs) {
    std::vector<std::string> argv = {
        "kcat", "-b", broker.bootstrap, "-P", "-t",  "orders", "-p",
        "0",    "-k", "key-" + codec,   "-z", codec, "-l",     (dir / "value.txt").string()};
    if (codec == "none") {
      argv = {"kcat",
              "-b",
              broker.bootstrap,
              "-P",
              "-t",
              "orders",
              "-p",
              "0",
              "-k",
              "key-none",
              "-H",
              "traceparent=" + std::string(kTraceparent),
              "-l",
              (dir / "value.txt").string()};
    }
    CommandResult r = run_command(dir, argv, 30s);
    ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
    producers.push_back(r.pid);
  }
  CommandResult consumer = run_command(dir,
                                       {"kcat", "-b", broker.bootstrap, "-C", "-t", "orders", "-p",
                                        "0", "-o", "beginning", "-e", "-q", "-f", "%o %k\n"},
                                       30s);
  ZTRACE_E2E_REQUIRE_PEER(consumer.exit_code == 0, consumer.describe);
  ZTRACE_E2E_REQUIRE_PEER(count_lines(consumer.out) == codecs.size(), consumer.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  log_versions("kcat (librdkafka 2.0.2)", spans);
  const std::vector<Span> sends = named(spans, "send orders");
  REQUIRE(sends.size() == codecs.size());
  std::set<std::string> send_contexts;
  for (size_t i = 0; i < codecs.size(); ++i) {
    INFO("codec " << codecs[i]);
    auto mine = of_pid(sends, producers[i]);
    REQUIRE(mine.size() == 1);
    check_send(mine[0], "orders", 0, static_cast<int64_t>(i), "rdkafka", broker.port);
    CHECK(str(mine[0], "messaging.kafka.message.key") == "key-" + codecs[i]);
    CHECK_FALSE(mine[0].attributes.contains("messaging.batch.message_count"));
    send_contexts.insert(context_of(mine[0]));
  }
  CHECK(links_of(of_pid(sends, producers[0]).at(0)).count(kHeaderContext) == 1);

  // The consumer: every record received (compressed batches read), linked to the header's
  // context and to each send span by offset.
  const std::vector<Span> receives = receives_of(of_pid(spans, consumer.pid), "orders", 0, 5);
  REQUIRE_FALSE(receives.empty());
  std::set<std::string> linked;
  for (const Span& s : receives) {
    CHECK(str(s, "messaging.client.id") == "rdkafka");
    for (const auto& l : links_of(s)) linked.insert(l);
  }
  CHECK(linked.count(kHeaderContext) == 1);
  for (const auto& c : send_contexts) CHECK(linked.count(c) == 1);
  CHECK(linked.size() == send_contexts.size() + 1);
}

TEST_CASE("kafka confluent-kafka: a multi-topic produce, a consumer group with links",
          "[e2e][kafka][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_confluent");
  Broker broker = start_broker(dir, {"orders", "payments"});
  Agent agent(dir, {.ports = {broker.port}});
  const fs::path peer = peers_dir() / "kafka" / "confluent_peer.py";
  const std::string tp(kTraceparent);
  CommandResult producer =
      run_command(dir,
                  {python3().string(), peer.string(), "produce", broker.bootstrap, "py-producer",
                   "orders:1:k1:v1:" + tp, "orders:1:k2:v2", "payments:0:k3:v3"},
                  60s);
  ZTRACE_E2E_REQUIRE_PEER(producer.exit_code == 0, producer.describe);
  CommandResult consumer = run_command(
      dir,
      {python3().string(), peer.string(), "consume", broker.bootstrap, "py-group", "orders", "2"},
      60s);
  ZTRACE_E2E_REQUIRE_PEER(consumer.exit_code == 0, consumer.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  log_versions("confluent-kafka (librdkafka 2.0.2)", spans);
  // One produce request for both topics: a span per topic, never only the first.
  auto orders = named(of_pid(spans, producer.pid), "send orders");
  auto payments = named(of_pid(spans, producer.pid), "send payments");
  REQUIRE(orders.size() == 1);
  REQUIRE(payments.size() == 1);
  check_send(orders[0], "orders", 1, 0, "py-producer", broker.port);
  CHECK(num(orders[0], "messaging.batch.message_count") == 2);
  check_send(payments[0], "payments", 0, 0, "py-producer", broker.port);
  CHECK(str(payments[0], "messaging.kafka.message.key") == "k3");

  const auto receives = receives_of(of_pid(spans, consumer.pid), "orders", 1, 2);
  REQUIRE_FALSE(receives.empty());
  std::set<std::string> linked;
  for (const Span& s : receives) {
    CHECK(str(s, "messaging.consumer.group.name") == "py-group");
    CHECK(str(s, "messaging.client.id") == "py-consumer");
    for (const auto& l : links_of(s)) linked.insert(l);
  }
  CHECK(linked == std::set<std::string>{kHeaderContext, context_of(orders[0])});
}

TEST_CASE("kafka kafkajs: producer and consumer group, exact offsets and links",
          "[e2e][kafka][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_kafkajs");
  const fs::path peer = peers_dir() / "kafka" / "kafkajs_peer.js";
  if (!fs::exists(peers_dir() / "kafka" / "node_modules" / "kafkajs")) {
    FAIL("kafkajs missing: run scripts/install-npm-peers.sh");
  }
  Broker broker = start_broker(dir, {"events"});
  Agent agent(dir, {.ports = {broker.port}});
  CommandResult producer = run_command(dir,
                                       {"node", peer.string(), "produce", broker.bootstrap,
                                        "events", "3", std::string(kTraceparent)},
                                       60s);
  ZTRACE_E2E_REQUIRE_PEER(producer.exit_code == 0, producer.describe);
  CommandResult consumer = run_command(
      dir, {"node", peer.string(), "consume", broker.bootstrap, "kjs-group", "events", "3"}, 60s);
  ZTRACE_E2E_REQUIRE_PEER(consumer.exit_code == 0, consumer.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  log_versions("kafkajs 2.2.4", spans);
  auto sends = named(of_pid(spans, producer.pid), "send events");
  REQUIRE(sends.size() == 1);
  check_send(sends[0], "events", 0, 0, "kjs", broker.port);
  CHECK(num(sends[0], "messaging.batch.message_count") == 3);
  CHECK(links_of(sends[0]) == std::set<std::string>{kHeaderContext});

  const auto receives = receives_of(of_pid(spans, consumer.pid), "events", 0, 3);
  REQUIRE_FALSE(receives.empty());
  std::set<std::string> linked;
  for (const Span& s : receives) {
    CHECK(str(s, "messaging.consumer.group.name") == "kjs-group");
    CHECK(str(s, "messaging.client.id") == "kjs");
    for (const auto& l : links_of(s)) linked.insert(l);
  }
  CHECK(linked == std::set<std::string>{kHeaderContext, context_of(sends[0])});
}

TEST_CASE("kafka sarama: a batch of three, read back by a partition consumer",
          "[e2e][kafka][go]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_sarama");
  // Debian's sarama (1.22) in GOPATH mode; with protocol version 0.11: sarama 1.22 does not
  // ask ApiVersions, and from 1.0 on its first request is Metadata v5, which librdkafka
  // 2.0.2's mock cluster refuses ("unsupported MetadataRequest version 5") by closing.
  const fs::path peer = build_go_peer(peers_dir() / "kafka" / "sarama" / "main.go",
                                      "ztrace-e2e-sarama", 300s, "/usr/share/gocode");
  Broker broker = start_broker(dir, {"sar"});
  Agent agent(dir, {.ports = {broker.port}});
  CommandResult r =
      run_command(dir, {peer.string(), broker.bootstrap, "sar", "3", std::string(kTraceparent)}, 60s);
  ZTRACE_E2E_REQUIRE_PEER((r.exit_code == 0 && count_lines(r.out) == 6), r.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  log_versions("sarama 1.22 (protocol 0.11)", spans);
  auto sends = named(of_pid(spans, r.pid), "send sar");
  REQUIRE(sends.size() == 1);
  check_send(sends[0], "sar", 0, 0, "sarama-peer", broker.port);
  CHECK(num(sends[0], "messaging.batch.message_count") == 3);
  CHECK(links_of(sends[0]) == std::set<std::string>{kHeaderContext});
  std::set<std::string> linked;
  for (const Span& s : receives_of(of_pid(spans, r.pid), "sar", 0, 3)) {
    for (const auto& l : links_of(s)) linked.insert(l);
  }
  CHECK(linked == std::set<std::string>{kHeaderContext, context_of(sends[0])});
}

TEST_CASE(
    "kafka in a trace: an HTTP handler's produce is its child, the receive links to it, the "
    "consumer's call continues from the receive",
    "[e2e][kafka][node][linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_http");
  if (!fs::exists(peers_dir() / "kafka" / "node_modules" / "kafkajs")) {
    FAIL("kafkajs missing: run scripts/install-npm-peers.sh");
  }
  Broker broker = start_broker(dir, {"web"});
  const int port = reserve_port(24610);
  // The service the consumer calls for each message: Python's http.server, serving files.
  const int called_port = reserve_port(31110);
  fs::create_directories(dir / "called");
  for (const char* name : {"a", "b", "unrelated"}) write_file(dir / "called" / name, "ok\n");
  Agent agent(dir, {.ports = {broker.port, port, called_port}});
  Process web({.argv = {"node", (peers_dir() / "kafka" / "kafkajs_web.js").string(),
                        std::to_string(port), broker.bootstrap, "web"},
               .stdout_path = dir / "web.out",
               .stderr_path = dir / "web.err"});
  Process called({.argv = {python3().string(), "-m", "http.server", std::to_string(called_port),
                           "--bind", "127.0.0.1", "--directory", (dir / "called").string()},
                  .stdout_path = dir / "called.out",
                  .stderr_path = dir / "called.err"});
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(port, 20s), web.describe());
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(called_port, 20s), called.describe());
  // One request at a time: Node's one thread then serves exactly one request when it writes.
  for (const char* key : {"a", "b"}) {
    CommandResult r =
        run_command(dir, {"curl", "-sS", "-f", url(port, std::string("/produce/") + key)});
    ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe + web.describe());
  }
  CommandResult consumer =
      run_command(dir,
                  {"node", (peers_dir() / "kafka" / "kafkajs_peer.js").string(), "consume-call",
                   broker.bootstrap, "web-group", "web", "2", url(called_port, "")},
                  60s);
  ZTRACE_E2E_REQUIRE_PEER(
      (consumer.exit_code == 0 && consumer.out.find("unrelated 200") != std::string::npos),
      consumer.describe + called.describe());

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  log_versions("kafkajs 2.2.4 in an HTTP handler", spans);
  const auto sends = named(of_pid(spans, web.pid()), "send web");
  REQUIRE(sends.size() == 2);
  std::set<std::string> send_contexts;
  for (const char* key : {"a", "b"}) {
    INFO("key " << key);
    auto servers =
        with_path(of_kind(of_pid(spans, web.pid()), "SERVER"), std::string("/produce/") + key);
    REQUIRE(servers.size() == 1);
    auto it = std::find_if(sends.begin(), sends.end(), [&](const Span& s) {
      return str(s, "messaging.kafka.message.key") == key;
    });
    REQUIRE(it != sends.end());
    CHECK(it->trace_id == servers[0].trace_id);
    CHECK(it->parent_span_id == servers[0].span_id);
    send_contexts.insert(context_of(*it));
  }
  std::set<std::string> linked;
  const auto receives = receives_of(of_pid(spans, consumer.pid), "web", 0, 2);
  for (const Span& s : receives) {
    for (const auto& l : links_of(s)) linked.insert(l);
  }
  CHECK(linked == send_contexts);

  // Each message's call is the child of the receive that brought it (the thread processes
  // the records until it writes to the broker again), and the called service's span the
  // call's child. The call made after kafkajs asked the broker again has no parent.
  const auto calls = of_kind(of_pid(spans, consumer.pid), "CLIENT");
  for (const char* key : {"a", "b"}) {
    INFO("call for key " << key);
    auto call = with_path(calls, std::string("/") + key);
    REQUIRE(call.size() == 1);
    auto receive = std::find_if(receives.begin(), receives.end(),
                                [&](const Span& r) { return r.span_id == call[0].parent_span_id; });
    REQUIRE(receive != receives.end());
    CHECK(call[0].trace_id == receive->trace_id);
    CHECK(receive->parent_span_id.empty());
    auto served = with_path(of_kind(of_pid(spans, called.pid()), "SERVER"), std::string("/") + key);
    REQUIRE(served.size() == 1);
    CHECK(served[0].trace_id == call[0].trace_id);
    CHECK(served[0].parent_span_id == call[0].span_id);
  }
  auto unrelated = with_path(calls, "/unrelated");
  REQUIRE(unrelated.size() == 1);
  CHECK(unrelated[0].parent_span_id.empty());
}

// librdkafka writes a Produce request from its own broker thread: the produce calls of the
// threads that serve requests are what links a send to its request (bpf/rdkafka_probes.bpf.c).
namespace {

struct ConfluentWeb {
  Process process;
  int port = 0;
};

ConfluentWeb start_confluent_web(const fs::path& dir, const Broker& broker, int port,
                                 int linger_ms) {
  Process p({.argv = {python3().string(), (peers_dir() / "kafka" / "confluent_web.py").string(),
                      std::to_string(port), broker.bootstrap, "web", std::to_string(linger_ms)},
             .stdout_path = dir / "web.out",
             .stderr_path = dir / "web.err"});
  if (!wait_for_port(port, 20s)) throw std::runtime_error("confluent_web.py:\n" + p.describe());
  return {std::move(p), port};
}

// `paths` requested at once, each on a connection of its own (curl --parallel).
CommandResult request_concurrently(const fs::path& dir, int port,
                                   const std::vector<std::string>& paths) {
  std::vector<std::string> argv = {"curl", "-sS", "-f", "-Z", "--parallel-immediate"};
  for (const auto& path : paths) argv.push_back(url(port, path));
  return run_command(dir, argv, 60s);
}

// "KEY OFFSET" lines of /flush.
std::map<std::string, int64_t> delivered_offsets(const fs::path& dir, int port) {
  CommandResult r = run_command(dir, {"curl", "-sS", "-f", url(port, "/flush")}, 30s);
  std::map<std::string, int64_t> out;
  std::istringstream lines(r.out);
  std::string key;
  int64_t offset;
  while (lines >> key >> offset) out[key] = offset;
  return out;
}

const std::vector<std::string> kWebKeys = {"k0", "k1", "k2", "k3"};

struct WebRun {
  int broker_port = 0;
  pid_t web_pid = -1;
  std::map<std::string, int64_t> offsets;  // delivered, by key
  std::vector<Span> spans;
  std::string agent_log;
};

// confluent_web.py under the agent, GET /ROUTE/KEY for every key at once, then /flush.
WebRun run_confluent_web(const std::string& name, int preferred_port, int linger_ms,
                         const std::string& route) {
  const auto dir = fresh_dir(name);
  Broker broker = start_broker(dir, {"web"});
  const int port = reserve_port(preferred_port);
  Agent agent(dir, {.ports = {broker.port, port}});
  ConfluentWeb web = start_confluent_web(dir, broker, port, linger_ms);
  std::vector<std::string> paths;
  for (const auto& key : kWebKeys) paths.push_back("/" + route + "/" + key);
  CommandResult r = request_concurrently(dir, web.port, paths);
  ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe + web.process.describe());
  WebRun run{broker.port, web.process.pid(), delivered_offsets(dir, web.port)};
  ZTRACE_E2E_REQUIRE_PEER(run.offsets.size() == kWebKeys.size(), web.process.describe());
  run.spans = stop_and_collect(agent);
  run.agent_log = agent.log_tail();
  return run;
}

}  // namespace

TEST_CASE("kafka librdkafka: each concurrent request's produce is its send's parent, exact offsets",
          "[e2e][kafka][python][kafka-librdkafka]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const WebRun run = run_confluent_web("kafka_librdkafka_sync", 31600, 0, "sync");
  const std::vector<Span>& spans = run.spans;
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << run.agent_log);
  const auto sends = named(of_pid(spans, run.web_pid), "send web");
  CHECK(sends.size() == kWebKeys.size());  // one Produce request per message (serialized)
  for (const auto& key : kWebKeys) {
    INFO("key " << key);
    const auto servers = with_path(of_kind(of_pid(spans, run.web_pid), "SERVER"), "/sync/" + key);
    REQUIRE(servers.size() == 1);
    check_send_under(sends, servers[0], key,
                     {"web", run.offsets.at(key), "py-web", run.broker_port});
  }
}

TEST_CASE(
    "kafka librdkafka: one batch of several requests' messages gives a create span per message "
    "under its request, the send links to them",
    "[e2e][kafka][python][kafka-librdkafka]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  // Messages queued within a second leave together.
  const WebRun run = run_confluent_web("kafka_librdkafka_batch", 31610, 1000, "queue");
  const std::vector<Span>& spans = run.spans;
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << run.agent_log);
  const auto sends = named(of_pid(spans, run.web_pid), "send web");
  REQUIRE(sends.size() == 1);
  const Span& send = sends[0];
  CHECK(send.kind == "CLIENT");  // its context is no message's creation context
  CHECK(num(send, "messaging.batch.message_count") == 4);
  CHECK(num(send, "messaging.kafka.offset") == 0);
  CHECK(send.parent_span_id.empty());
  const auto creates = named(of_pid(spans, run.web_pid), "create web");
  CHECK(creates.size() == kWebKeys.size());
  std::set<std::string> create_contexts;
  for (const auto& key : kWebKeys) {
    INFO("key " << key);
    const auto servers = with_path(of_kind(of_pid(spans, run.web_pid), "SERVER"), "/queue/" + key);
    REQUIRE(servers.size() == 1);
    auto it = std::find_if(creates.begin(), creates.end(), [&](const Span& s) {
      return str(s, "messaging.kafka.message.key") == key;
    });
    REQUIRE(it != creates.end());
    CHECK(it->kind == "PRODUCER");
    CHECK(str(*it, "messaging.operation.type") == "create");
    CHECK(str(*it, "messaging.destination.partition.id") == "0");
    CHECK(num(*it, "messaging.kafka.offset") == run.offsets.at(key));
    CHECK(it->trace_id == servers[0].trace_id);
    CHECK(it->parent_span_id == servers[0].span_id);
    create_contexts.insert(context_of(*it));
  }
  CHECK(links_of(send) == create_contexts);
}

// sarama writes a Produce request from its own goroutines: the SendMessage of the goroutine
// that serves a request is what links the send to it (bpf/go_probes.bpf.c).
TEST_CASE("kafka sarama: a Go handler's SendMessage makes its request the send's parent",
          "[e2e][kafka][go][kafka-sarama-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_sarama_web");
  const fs::path peer = build_go_peer(peers_dir() / "kafka" / "sarama_web" / "main.go",
                                      "ztrace-e2e-sarama-web", 300s, "/usr/share/gocode");
  Broker broker = start_broker(dir, {"gw"});
  const int port = reserve_port(31710);
  Agent agent(dir, {.ports = {broker.port, port}});
  Process web({.argv = {peer.string(), std::to_string(port), broker.bootstrap, "gw"},
               .stdout_path = dir / "web.out",
               .stderr_path = dir / "web.err"});
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(port, 20s), web.describe());
  // The Go probes attach once the binary is read: a produce before that has no parent.
  const std::string attached = "Go probes: pid " + std::to_string(web.pid()) + " ";
  REQUIRE(wait_until([&] { return agent.log().find(attached) != std::string::npos; }, 20s));
  std::map<std::string, int64_t> offsets;
  // One request at a time: each message then leaves in a Produce request of its own.
  for (const char* key : {"g0", "g1", "g2"}) {
    CommandResult r =
        run_command(dir, {"curl", "-sS", "-f", url(port, std::string("/produce/") + key)});
    ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe + web.describe());
    std::istringstream line(r.out);
    std::string got;
    int64_t offset = -1;
    line >> got >> offset;
    offsets[key] = offset;
  }

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  const auto sends = named(of_pid(spans, web.pid()), "send gw");
  CHECK(sends.size() == offsets.size());
  for (const auto& [key, offset] : offsets) {
    INFO("key " << key);
    const auto servers = with_path(of_kind(of_pid(spans, web.pid()), "SERVER"), "/produce/" + key);
    REQUIRE(servers.size() == 1);
    check_send_under(sends, servers[0], key, {"gw", offset, "sarama-web", broker.port});
  }
}

// A librdkafka consumer: the broker thread reads the Fetch, the application thread polls each
// message. The poll's return makes the message's `process` span, whose context the thread's
// calls take until its next poll (bpf/rdkafka_probes.bpf.c, thread_linking.bpf.h).
TEST_CASE(
    "kafka librdkafka consumer: each polled message's calls are the children of its process "
    "span, linked to its receive, its send and its header",
    "[e2e][kafka][python][kafka-librdkafka-consumer]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("kafka_librdkafka_consume");
  Broker broker = start_broker(dir, {"jobs"});
  const int called_port = reserve_port(31700);
  const std::vector<std::string> keys = {"a", "b", "c"};
  fs::create_directories(dir / "called");
  for (const char* name : {"a", "b", "c", "after-close", "timer"}) {
    write_file(dir / "called" / name, "ok\n");
  }
  Agent agent(dir, {.ports = {broker.port, called_port}});
  Process called({.argv = {python3().string(), "-m", "http.server", std::to_string(called_port),
                           "--bind", "127.0.0.1", "--directory", (dir / "called").string()},
                  .stdout_path = dir / "called.out",
                  .stderr_path = dir / "called.err"});
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(called_port, 20s), called.describe());
  const fs::path peer = peers_dir() / "kafka" / "confluent_peer.py";
  CommandResult producer =
      run_command(dir,
                  {python3().string(), peer.string(), "produce", broker.bootstrap, "py-producer",
                   "jobs:0:a:va:" + std::string(kTraceparent), "jobs:0:b:vb", "jobs:0:c:vc"},
                  60s);
  ZTRACE_E2E_REQUIRE_PEER(producer.exit_code == 0, producer.describe);
  CommandResult consumer =
      run_command(dir,
                  {python3().string(), peer.string(), "consume-call", broker.bootstrap, "job-group",
                   "jobs", "3", url(called_port, "")},
                  60s);
  ZTRACE_E2E_REQUIRE_PEER(
      (consumer.exit_code == 0 && consumer.out.find("/timer 200") != std::string::npos),
      consumer.describe + called.describe());

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans) << "\nagent log:\n" << agent.log_tail());
  const auto sends = named(of_pid(spans, producer.pid), "send jobs");
  REQUIRE(sends.size() == 1);
  const auto receives = receives_of(of_pid(spans, consumer.pid), "jobs", 0, 3);
  const auto processes = named(of_pid(spans, consumer.pid), "process jobs");
  CHECK(processes.size() == keys.size());
  const auto calls = of_kind(of_pid(spans, consumer.pid), "CLIENT");
  const auto served = of_kind(of_pid(spans, called.pid()), "SERVER");
  for (size_t offset = 0; offset < keys.size(); ++offset) {
    const std::string& key = keys[offset];
    INFO("message " << key << " at offset " << offset);
    auto it = std::find_if(processes.begin(), processes.end(), [&](const Span& s) {
      return num(s, "messaging.kafka.offset") == static_cast<int64_t>(offset);
    });
    REQUIRE(it != processes.end());
    const Span& process = *it;
    CHECK(process.kind == "CONSUMER");
    CHECK(str(process, "messaging.system") == "kafka");
    CHECK(str(process, "messaging.operation.type") == "process");
    CHECK(str(process, "messaging.destination.name") == "jobs");
    CHECK(str(process, "messaging.destination.partition.id") == "0");
    CHECK(str(process, "messaging.consumer.group.name") == "job-group");
    CHECK(process.parent_span_id.empty());
    // Linked to the receive that fetched it, the send that wrote it, and its own header.
    const auto links = links_of(process);
    auto receive = std::find_if(receives.begin(), receives.end(), [&](const Span& r) {
      const int64_t first = num(r, "messaging.kafka.offset");
      return first <= static_cast<int64_t>(offset) &&
             static_cast<int64_t>(offset) <
                 first + r.attr_int("messaging.batch.message_count").value_or(1);
    });
    REQUIRE(receive != receives.end());
    CHECK(links.count(context_of(*receive)) == 1);
    CHECK(links.count(context_of(sends[0])) == 1);
    CHECK(links.count(kHeaderContext) == (key == "a" ? 1u : 0u));
    CHECK(links.size() == (key == "a" ? 3u : 2u));
    // The call made while processing it is its child, and the called service's span the call's.
    auto call = with_path(calls, "/" + key);
    REQUIRE(call.size() == 1);
    CHECK(call[0].trace_id == process.trace_id);
    CHECK(call[0].parent_span_id == process.span_id);
    auto server = with_path(served, "/" + key);
    REQUIRE(server.size() == 1);
    CHECK(server[0].trace_id == call[0].trace_id);
    CHECK(server[0].parent_span_id == call[0].span_id);
    // The trace started here at the poll: each of its spans records the threshold it was
    // sampled at (full sampling).
    for (const Span* span : std::initializer_list<const Span*>{&process, &call[0], &server[0]}) {
      CHECK(span->raw.value("trace_state", "") == "ot=th:0");
    }
  }
  // After rd_kafka_consumer_close, and from another thread: no message's children.
  for (const char* path : {"/after-close", "/timer"}) {
    INFO("call " << path);
    auto call = with_path(calls, path);
    REQUIRE(call.size() == 1);
    CHECK(call[0].parent_span_id.empty());
  }
}

}  // namespace ztrace::e2e
