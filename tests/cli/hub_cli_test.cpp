// Hugging Face hub ids (org/name[@revision]) as model inputs, end to end: a cache folder built
// here in huggingface_hub's layout, and a local HTTP server (a thread of this test) that serves
// config.json at the Hub's URL layout, /<org>/<name>/resolve/<revision>/config.json, with the
// X-Repo-Commit and ETag headers the Hub sends.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/test_paths.hpp"

namespace fs = std::filesystem;
using gmha::test::run_gmha;
using nlohmann::json;

namespace {

// A Llama-shaped config small enough to read at a glance: 6 layers, K and V of 6 heads x 48
// in bf16, so 6 * 2 * 288 * 2 = 6912 B of KV per token.
const char* kTinyLlama = R"({"model_type": "llama", "hidden_size": 288, "num_attention_heads": 6,
  "num_key_value_heads": 6, "num_hidden_layers": 6, "intermediate_size": 768, "vocab_size": 32000,
  "max_position_embeddings": 2048, "torch_dtype": "bfloat16"})";
// The same with 2 KV heads (a second revision): 6 * 2 * 96 * 2 = 2304 B per token.
const char* kTinyLlamaGqa = R"({"model_type": "llama", "hidden_size": 288, "num_attention_heads": 6,
  "num_key_value_heads": 2, "num_hidden_layers": 6, "intermediate_size": 768, "vocab_size": 32000,
  "max_position_embeddings": 2048, "torch_dtype": "bfloat16"})";

const std::string kCommitMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kCommitV1 = "89abcdef0123456789abcdef0123456789abcdef";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}
std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Sets environment variables for the gmha processes this test starts; restores them after.
class Env {
 public:
  void set(const char* k, const std::string& v) {
    remember(k);
    ::setenv(k, v.c_str(), 1);
  }
  void unset(const char* k) {
    remember(k);
    ::unsetenv(k);
  }
  ~Env() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }

 private:
  void remember(const char* k) {
    if (saved_.count(k)) return;
    const char* v = std::getenv(k);
    saved_[k] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

// A minimal HTTP/1.1 server on 127.0.0.1 (an ephemeral port): one request per connection, GET
// only; answers the paths it was given and 404 otherwise; remembers each request's path and
// Authorization header.
class HubServer {
 public:
  struct File {
    std::string body, commit, etag;
  };
  explicit HubServer(std::map<std::string, File> files) : files_(std::move(files)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HubServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      const size_t sp1 = req.find(' ');
      const size_t sp2 = req.find(' ', sp1 + 1);
      const std::string path = sp1 == std::string::npos ? "" : req.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string auth;
      if (const size_t a = req.find("\r\nAuthorization: "); a != std::string::npos) {
        auth = req.substr(a + 17, req.find("\r\n", a + 2) - a - 17);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.emplace_back(path, auth);
      }
      std::string resp;
      if (auto it = files_.find(path); it != files_.end()) {
        resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Repo-Commit: " + it->second.commit +
               "\r\nETag: \"" + it->second.etag + "\"\r\nContent-Length: " +
               std::to_string(it->second.body.size()) + "\r\nConnection: close\r\n\r\n" + it->second.body;
      } else {
        resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      }
      size_t sent = 0;
      while (sent < resp.size()) {
        const ssize_t n = ::send(c, resp.data() + sent, resp.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }
  std::map<std::string, File> files_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> requests_;
};

// A cache as huggingface_hub leaves it: refs/main and refs/v1 name two snapshots, each a
// config.json (main's a symlink into blobs/, v1's a plain copy, as on a file system without links).
fs::path build_cache(const fs::path& hub) {
  const fs::path repo = hub / "models--acme--tiny-llama";
  write(repo / "blobs" / "e1", kTinyLlama);
  fs::create_directories(repo / "snapshots" / kCommitMain);
  fs::create_symlink(fs::path("..") / ".." / "blobs" / "e1", repo / "snapshots" / kCommitMain / "config.json");
  write(repo / "snapshots" / kCommitV1 / "config.json", kTinyLlamaGqa);
  write(repo / "refs" / "main", kCommitMain);
  write(repo / "refs" / "v1", kCommitV1 + "\n");
  return repo;
}

json compare_json(const std::string& models) {
  const auto r = run_gmha("compare " + models + " --context 1024 --format json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

bool built_without_curl() {
  Env env;
  env.set("HF_HUB_CACHE", gmha::test::scratch_dir("hub-probe"));
  env.unset("HF_HUB_OFFLINE");
  env.set("HF_ENDPOINT", "http://127.0.0.1:9");  // discard port: refused at once
  return run_gmha("compare acme/probe").err.find("built without libcurl") != std::string::npos;
}

}  // namespace

TEST_CASE("cli hub: an id reads config.json from the cache, refs/<revision> -> snapshot", "[cli]") {
  const fs::path hub = gmha::test::scratch_dir("hub-cache");
  build_cache(hub);
  Env env;
  env.set("HF_HUB_CACHE", hub.string());
  env.set("HF_HUB_OFFLINE", "1");  // nothing may be downloaded
  const json j = compare_json("acme/tiny-llama acme/tiny-llama@v1 acme/tiny-llama@" + kCommitV1);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["model"] == "acme/tiny-llama");  // the id, not the snapshot's path
  CHECK(j[0]["kv_bytes_per_token"] == 6912);  // 6 layers * K, V of 6 x 48 * 2 B
  CHECK(j[0]["kv_bytes"] == 6912 * 1024);
  CHECK(j[1]["model"] == "acme/tiny-llama@v1");
  CHECK(j[1]["kv_bytes_per_token"] == 2304);  // v1: 2 KV heads
  CHECK(j[2]["kv_bytes_per_token"] == 2304);  // the commit hash names its snapshot directly

  // Without HF_HUB_CACHE the cache is $HF_HOME/hub.
  env.unset("HF_HUB_CACHE");
  const fs::path home = gmha::test::scratch_dir("hf-home");
  build_cache(home / "hub");
  env.set("HF_HOME", home.string());
  CHECK(compare_json("acme/tiny-llama")[0]["kv_bytes_per_token"] == 6912);
  // ... and without either, ~/.cache/huggingface/hub.
  env.unset("HF_HOME");
  const fs::path user = gmha::test::scratch_dir("user-home");
  build_cache(user / ".cache" / "huggingface" / "hub");
  env.set("HOME", user.string());
  CHECK(compare_json("acme/tiny-llama@v1")[0]["kv_bytes_per_token"] == 2304);
}

TEST_CASE("cli hub: offline and uncached is one line naming the id and the cache path", "[cli]") {
  const fs::path hub = gmha::test::scratch_dir("hub-empty");
  Env env;
  env.set("HF_HUB_CACHE", hub.string());
  env.set("HF_HUB_OFFLINE", "1");
  const auto r = run_gmha("compare acme/absent@dev");
  CHECK(r.exit_code == 2);
  CHECK(lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("acme/absent@dev") &&
                        Catch::Contains((hub / "models--acme--absent").string()) &&
                        Catch::Contains("HF_HUB_OFFLINE"));
  // Not an id (three parts) and not a path: the usual message listing what is accepted.
  const auto bad = run_gmha("compare a/b/c");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("not a preset"));
}

TEST_CASE("cli hub: downloads config.json from HF_ENDPOINT into the cache as huggingface_hub does", "[cli]") {
  if (built_without_curl()) {
    gmha::test::skip_missing("gmha was built without libcurl; skipping the download test");
    return;
  }
  const fs::path hub = gmha::test::scratch_dir("hub-download");
  Env env;
  env.set("HF_HUB_CACHE", hub.string());
  env.unset("HF_HUB_OFFLINE");
  env.set("HF_TOKEN", "hf_test_token");
  const fs::path repo = hub / "models--acme--tiny-llama";
  {
    HubServer server({{"/acme/tiny-llama/resolve/main/config.json", {kTinyLlama, kCommitMain, "e1"}},
                      {"/acme/tiny-llama/resolve/refs%2Fpr%2F1/config.json", {kTinyLlamaGqa, kCommitV1, "e2"}}});
    env.set("HF_ENDPOINT", server.endpoint() + "/");  // a trailing '/' is dropped
    const json j = compare_json("acme/tiny-llama acme/tiny-llama@refs/pr/1");
    CHECK(j[0]["model"] == "acme/tiny-llama");
    CHECK(j[0]["kv_bytes_per_token"] == 6912);
    CHECK(j[1]["kv_bytes_per_token"] == 2304);
    const auto reqs = server.requests();
    REQUIRE(reqs.size() == 2);  // config.json only, once per revision
    CHECK(reqs[0].first == "/acme/tiny-llama/resolve/main/config.json");
    CHECK(reqs[0].second == "Bearer hf_test_token");
    // huggingface_hub's layout: the bytes under blobs/<etag>, a relative symlink in the
    // snapshot, the commit in refs/<revision>.
    CHECK(read(repo / "blobs" / "e1") == kTinyLlama);
    const fs::path snap = repo / "snapshots" / kCommitMain / "config.json";
    REQUIRE(fs::is_symlink(snap));
    CHECK(fs::read_symlink(snap) == fs::path("../../blobs/e1"));
    CHECK(read(repo / "refs" / "main") == kCommitMain);
    CHECK(read(repo / "refs" / "refs" / "pr" / "1") == kCommitV1);
    // Cached now: a second run asks nothing.
    compare_json("acme/tiny-llama");
    CHECK(server.requests().size() == 2);
    // Absent from the server: one line, exit 2, naming the id, the cache path and the answer.
    const auto r = run_gmha("compare acme/missing");
    CHECK(r.exit_code == 2);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("acme/missing@main") && Catch::Contains("models--acme--missing") &&
                          Catch::Contains("HTTP 404"));
    CHECK_FALSE(fs::exists(hub / "models--acme--missing" / "refs"));  // nothing half-written
  }
  // The server is gone: the cache alone answers.
  env.set("HF_HUB_OFFLINE", "1");
  CHECK(compare_json("acme/tiny-llama@refs/pr/1")[0]["kv_bytes_per_token"] == 2304);
  // Unreachable and uncached: one line naming the id, the cache path and the failure.
  env.unset("HF_HUB_OFFLINE");
  env.set("HF_ENDPOINT", "http://127.0.0.1:9");
  const auto r = run_gmha("compare acme/other");
  CHECK(r.exit_code == 2);
  CHECK(lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("acme/other@main") && Catch::Contains("models--acme--other") &&
                        Catch::Contains("failed"));
}
