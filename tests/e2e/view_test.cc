// `ztrace view` as a user runs it: the interactive mode in a real terminal (tmux), and the
// large-file memory bound. No agent, no root.

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

const fs::path kChain = peers_dir() / ".." / ".." / "testdata" / "view" / "chain.jsonl";

// A tmux server of the test's own (its socket in the test's folder), one window.
class Tmux {
 public:
  Tmux(const fs::path& dir, int columns, int rows, const std::string& command)
      : dir_(dir), socket_((dir / "tmux.sock").string()) {
    const CommandResult started = run(
        {"new-session", "-d", "-x", std::to_string(columns), "-y", std::to_string(rows), command});
    REQUIRE(started.exit_code == 0);
  }
  ~Tmux() { run({"kill-server"}); }

  void keys(const std::vector<std::string>& keys) {
    std::vector<std::string> args = {"send-keys", "-t", "0"};
    args.insert(args.end(), keys.begin(), keys.end());
    REQUIRE(run(args).exit_code == 0);
  }
  std::string screen() { return run({"capture-pane", "-p", "-t", "0"}).out; }
  // Waits up to 5 s for the screen to show `text`; the screen as last seen.
  std::string wait_for(const std::string& text) {
    std::string seen;
    wait_until([&] { return (seen = screen()).find(text) != std::string::npos; }, 5s);
    return seen;
  }

 private:
  CommandResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-S", socket_});
    return run_command(dir_, args, 10s);
  }
  fs::path dir_;
  std::string socket_;
};

}  // namespace

TEST_CASE("view: interactive in a terminal (tmux): pick a trace, fold, scroll, back, quit",
          "[view]") {
  const fs::path dir = fresh_dir("view_tmux");
  // 12 rows: the title, 10 body rows, the help; a trace has 12 span rows, so it scrolls.
  Tmux tmux(dir, 170, 12,
            agent_path().string() + " view " + kChain.string() + " 2>" +
                (dir / "notes.txt").string() + "; echo exited $?; sleep 60");
  std::string screen = tmux.wait_for("ztrace view: 2 traces");
  INFO(screen);
  CHECK(screen.find("91b42d7dabaf2f08a493cfbc303cdd2d  curl, java, nginx, node, python3.11") !=
        std::string::npos);
  CHECK(screen.find("099631f5ba01f3ff0359acb7e20700c9") != std::string::npos);

  tmux.keys({"Enter"});
  screen = tmux.wait_for("trace 91b42d7dabaf2f08a493cfbc303cdd2d  12 spans");
  INFO(screen);
  CHECK(screen.find("▾ GET /chain/seq-1      ") != std::string::npos);
  CHECK(screen.find("▾ └─ GET /chain/seq-1") != std::string::npos);
  CHECK(screen.find("▾          └─ GET /chain/seq-1") != std::string::npos);  // java client
  CHECK(count_occurrences(screen, "GET /chain/seq-1") ==
        10);                                            // the rest below the fold of the screen
  CHECK(screen.find("1.121 ms") == std::string::npos);  // the innermost span, not yet shown

  // End scrolls to the last row (the innermost Python server); the first rows scroll away.
  tmux.keys({"End"});
  screen = tmux.wait_for("python3.11       server   200       1.121 ms");
  INFO(screen);
  CHECK(screen.find("curl             client") == std::string::npos);

  // Home, then fold the root: one row left.
  tmux.keys({"Home", "Enter"});
  screen = tmux.wait_for("▸ GET /chain/seq-1");
  INFO(screen);
  CHECK(count_occurrences(screen, "GET /chain/seq-1") == 1);
  // Unfold it, fold nginx's server span: two rows.
  tmux.keys({"Right", "Down", "Left"});
  screen = tmux.wait_for("▸ └─ GET /chain/seq-1");
  CHECK(count_occurrences(screen, "GET /chain/seq-1") == 2);

  // Back to the list, the second trace.
  tmux.keys({"Escape"});
  tmux.wait_for("ztrace view: 2 traces");
  tmux.keys({"Down", "Enter"});
  screen = tmux.wait_for("trace 099631f5ba01f3ff0359acb7e20700c9  12 spans");
  INFO(screen);
  CHECK(screen.find("55.732 ms") != std::string::npos);

  // q gives the terminal back: the shell prints after it, the notes went to stderr.
  tmux.keys({"q"});
  screen = tmux.wait_for("exited 0");
  INFO(screen);
  CHECK(screen.find("exited 0") != std::string::npos);
  CHECK(screen.find("ztrace view:") == std::string::npos);  // the alternate screen is gone
  CHECK(read_file(dir / "notes.txt") == "2 of 2 traces shown (24 spans read)\n");
}

TEST_CASE("view: a pipe gets the plain text, exactly as in the unit tests", "[view]") {
  const fs::path dir = fresh_dir("view_plain");
  const CommandResult run = run_command(dir, {agent_path().string(), "view", kChain.string()});
  REQUIRE(run.exit_code == 0);
  CHECK(run.out == read_file(kChain.parent_path() / "chain.txt"));
}

TEST_CASE("view: a 200 MiB file is indexed within the README's memory bound", "[view]") {
  const fs::path dir = fresh_dir("view_memory");
  const fs::path script = peers_dir() / ".." / ".." / ".." / "bench" / "view_memory.py";
  const CommandResult run = run_command(
      dir,
      {"python3", script.string(), "--mb", "200", "--check", "--ztrace", agent_path().string()},
      120s, {{"TMPDIR", dir.string()}});
  INFO(run.describe);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("| 200 MiB |") != std::string::npos);
}

namespace {

// The web view in Debian's chromium (headless, driven by playwright-core); what the page
// rendered, as tests/e2e/peers/browser/view_page.js reports it.
nlohmann::json open_in_browser(const fs::path& dir, const std::string& url,
                               const std::string& trace_prefix) {
  const CommandResult run =
      run_command(dir,
                  {"node", (peers_dir() / "browser" / "view_page.js").string(), url, dir.string(),
                   trace_prefix},
                  90s);
  INFO(run.describe);
  REQUIRE(run.exit_code == 0);
  return nlohmann::json::parse(run.out);
}

// The chain's trace, as the browser drew it: one line per row, indented by its depth.
std::string drawn_tree(const nlohmann::json& page) {
  std::string tree;
  for (const auto& row : page["rows"]) {
    tree += std::string(2 * row["depth"].get<size_t>(), ' ') + row["name"].get<std::string>() +
            " [" + row["service"].get<std::string>() + "]\n";
  }
  return tree;
}

constexpr char kChainTree[] =
    "GET /chain/seq-1 [curl]\n"
    "  GET /chain/seq-1 [nginx]\n"
    "    GET /chain/seq-1 [nginx]\n"
    "      GET /chain/seq-1 [java]\n"
    "        GET /chain/seq-1 [java]\n"
    "          GET /chain/seq-1 [ztrace-e2e-gopeer]\n"
    "            GET /chain/seq-1 [ztrace-e2e-gopeer]\n"
    "              GET /chain/seq-1 [node]\n"
    "                GET /chain/seq-1 [node]\n"
    "                  GET /chain/seq-1 [python3.11]\n"
    "                    GET /chain/seq-1 [python3.11]\n"
    "                      GET /chain/seq-1 [python3.11]\n";

}  // namespace

TEST_CASE(
    "view --web: in a headless chromium, the list searches, a trace opens as a tree, a click "
    "shows a span's attributes, the service map has the chain's edges",
    "[view]") {
  const fs::path dir = fresh_dir("view_web");
  const int port = reserve_port(24900);
  Process server({.argv = {agent_path().string(), "view", "--web", "--listen",
                           "127.0.0.1:" + std::to_string(port), kChain.string()},
                  .stderr_path = dir / "view.err"});
  REQUIRE(wait_for_port(port, 10s));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  const nlohmann::json page = open_in_browser(dir, url, "91b4");
  INFO(page.dump(1));
  CHECK(page["listed"] == nlohmann::json::array({"099631f5ba01f3ff0359acb7e20700c9",
                                                 "91b42d7dabaf2f08a493cfbc303cdd2d"}));
  CHECK(drawn_tree(page) == kChainTree);
  // The bars: the root spans the whole lane, the innermost span a sliver of it.
  CHECK(page["rows"][0]["bar_px"].get<double>() > 20 * page["rows"][11]["bar_px"].get<double>());
  bool path_shown = false;
  for (const auto& row : page["attributes"]) {
    if (row[0] == "url.path" && row[1] == "/chain/seq-1") path_shown = true;
  }
  CHECK(path_shown);
  CHECK(page["edges"] ==
        nlohmann::json::array({"curl nginx 2 0", "java ztrace-e2e-gopeer 2 0", "nginx java 2 0",
                               "node python3.11 2 0", "ztrace-e2e-gopeer node 2 0"}));
  CHECK(page["map_boxes"] == 6);
  // Self-contained: every request the page made went to the view itself.
  for (const auto& request : page["requests"]) {
    CHECK(request.get<std::string>().starts_with(url));
  }
  CHECK(fs::file_size(dir / "trace.png") > 10'000);
  CHECK(fs::file_size(dir / "service-map.png") > 10'000);
  server.stop();
}

TEST_CASE(
    "agent: run --view prints each trace as a tree; its control port serves the web view at "
    "/view/ from its --jsonl file",
    "[view]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24902);
  const int api_port = reserve_port(24903);
  const fs::path dir = fresh_dir("view_agent");
  Process server = start_python_server(dir, port);
  Agent agent(dir,
              {.ports = {port},
               .extra_args = {"--view", "--api-listen", "127.0.0.1:" + std::to_string(api_port)},
               .console = true});
  must_run(dir, curl_command({{url(port, "/view/agent")}}));
  const fs::path console = dir / "agent.stdout";
  const bool printed = wait_until(
      [&] { return read_file(console).find("└─ GET /view/agent") != std::string::npos; }, 20s);
  const std::string text = read_file(console);
  INFO(text);
  REQUIRE(printed);
  CHECK(text.starts_with("trace "));
  CHECK(text.find("  2 spans  ") != std::string::npos);
  CHECK(text.find("\nGET /view/agent ") != std::string::npos);  // the root row: curl's
  const std::string trace_id = text.substr(6, 32);

  const std::string view_url = "http://127.0.0.1:" + std::to_string(api_port) + "/view/";
  CHECK(wait_until(
      [&] {
        const CommandResult list =
            run_command(dir, {"curl", "-s", view_url + "api/traces?q=" + trace_id}, 10s);
        return list.out.find(R"("matched":1)") != std::string::npos;
      },
      10s));
  const nlohmann::json page = open_in_browser(dir, view_url, trace_id.substr(0, 8));
  INFO(page.dump(1));
  REQUIRE(page["rows"].size() == 2);
  CHECK(page["rows"][0]["depth"] == 0);
  CHECK(page["rows"][1]["depth"] == 1);
  CHECK(page["rows"][0]["name"] == "GET /view/agent");
  CHECK(page["rows"][1]["name"] == "GET /view/agent");
  CHECK(page["rows"][0]["service"] == "curl");
  CHECK(page["edges"].size() == 1);
  for (const auto& request : page["requests"]) {
    CHECK(request.get<std::string>().starts_with(view_url));
  }
  CHECK(agent.stop() == 0);
}

}  // namespace ztrace::e2e
