#include "cli/hub.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#ifdef GMHA_HAVE_CURL
#include <curl/curl.h>
#endif

#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"

namespace gmha::cli {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// huggingface_hub's rule for boolean variables (HF_HUB_OFFLINE): 1, ON, YES, TRUE.
bool env_true(const char* name) {
  std::string v = env(name);
  for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Hub names: letters, digits, '-', '_', '.'; no leading or trailing '.', no "--" or ".." (the
// Hub refuses both; "--" would also make the cache folder name ambiguous).
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 96 || s.front() == '.' || s.back() == '.') return false;
  for (char c : s) {
    if (!name_char(c)) return false;
  }
  return s.find("--") == std::string::npos && s.find("..") == std::string::npos;
}

// A commit hash, or a branch / tag name (which may hold '/', e.g. refs/pr/1).
bool valid_revision(const std::string& s) {
  if (s.empty() || s.size() > 255 || s.front() == '/' || s.back() == '/') return false;
  for (char c : s) {
    if (!name_char(c) && c != '/') return false;
  }
  return s.find("..") == std::string::npos && s.find("//") == std::string::npos;
}

bool is_commit_hash(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// What a server sends for a commit or an ETag becomes a file name: keep it to safe characters.
bool safe_file_name(const std::string& s) {
  if (s.empty() || s.size() > 128 || s.front() == '.') return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string id_text(const HubId& id) { return id.repo() + "@" + id.revision; }

fs::path repo_dir(const HubId& id) {
  return fs::path(hub_cache_dir()) / ("models--" + id.org + "--" + id.name);
}

// The snapshot a revision names in the cache: a commit hash names itself; a branch or tag is
// looked up in refs/. Empty when the cache does not know it.
std::string cached_commit(const HubId& id) {
  if (is_commit_hash(id.revision)) return id.revision;
  std::ifstream in(repo_dir(id) / "refs" / id.revision);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string hash = trim(ss.str());
  return safe_file_name(hash) ? hash : "";
}

[[noreturn]] void not_cached(const HubId& id, const std::string& why) {
  throw InputError(fmt::format("{}: config.json is not in the Hugging Face cache ({}) and {}",
                               id_text(id), repo_dir(id).string(), why));
}

#ifdef GMHA_HAVE_CURL

// Percent-encodes a revision for the URL path ('/' too, as huggingface_hub quotes it).
std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct Response {
  std::string body;
  std::string commit;       // X-Repo-Commit
  std::string etag;         // ETag of the last response
  std::string linked_etag;  // X-Linked-Etag (the blob's, when the file is in LFS)
  bool too_big = false;
};

constexpr size_t kMaxConfigBytes = 16u << 20;  // a config.json is kilobytes; refuse a runaway body

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  if (r->body.size() + size * n > kMaxConfigBytes) {
    r->too_big = true;
    return 0;  // aborts the transfer
  }
  r->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  const std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string key = line.substr(0, colon);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value = trim(line.substr(colon + 1));
  if (key == "x-repo-commit") r->commit = value;
  else if (key == "etag") r->etag = value;
  else if (key == "x-linked-etag") r->linked_etag = value;
  return size * n;
}

// huggingface_hub's blob name: the ETag without a weak prefix and quotes.
std::string blob_name(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

Response fetch_config(const HubId& id, const std::string& url) {
  CURL* curl = curl_easy_init();
  if (!curl) not_cached(id, "libcurl could not start a download");
  Response r;
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  const std::string token = env("HF_TOKEN");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "gmha");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  // Only https and, for a local mirror or test server given as HF_ENDPOINT, http.
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (r.too_big) not_cached(id, fmt::format("{} sent more than {} bytes", url, kMaxConfigBytes));
  if (rc != CURLE_OK) {
    not_cached(id, fmt::format("downloading {} failed: {}", url, error[0] ? error : curl_easy_strerror(rc)));
  }
  if (status != 200) {
    const char* hint = status == 401 || status == 403 ? " (a gated or private repository needs HF_TOKEN)"
                       : status == 404                ? " (no such repository, revision or file)"
                                                      : "";
    not_cached(id, fmt::format("{} answered HTTP {}{}", url, status, hint));
  }
  return r;
}

// Stores the downloaded file as huggingface_hub does: the bytes in blobs/<etag>, a relative
// symlink snapshots/<commit>/config.json -> ../../blobs/<etag> (a copy where links are not
// possible), and refs/<revision> holding the commit. Each is written to a temporary name and
// renamed into place, so a concurrent reader sees the old state or the new one.
std::string store(const HubId& id, const Response& r, const std::string& url) {
  std::string commit = r.commit;
  if (commit.empty() && is_commit_hash(id.revision)) commit = id.revision;
  const std::string etag = blob_name(r.linked_etag.empty() ? r.etag : r.linked_etag);
  if (!safe_file_name(commit)) {
    not_cached(id, fmt::format("{} sent no usable X-Repo-Commit header (got '{}')", url, commit));
  }
  if (!safe_file_name(etag)) {
    not_cached(id, fmt::format("{} sent no usable ETag header (got '{}')", url, etag));
  }
  const fs::path dir = repo_dir(id);
  const fs::path blob = dir / "blobs" / etag;
  const fs::path snapshot = dir / "snapshots" / commit / "config.json";
  std::error_code ec;
  for (const fs::path& p : {blob.parent_path(), snapshot.parent_path()}) {
    fs::create_directories(p, ec);
    if (ec) throw InputError(fmt::format("{}: cannot create {}: {}", id_text(id), p.string(), ec.message()));
  }
  write_file_atomically(blob.string(), r.body);
  const fs::path tmp = snapshot.string() + fmt::format(".{}.tmp", ::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(fs::path("..") / ".." / "blobs" / etag, tmp, ec);
  if (!ec) fs::rename(tmp, snapshot, ec);
  if (ec) {
    fs::remove(tmp, ec);
    write_file_atomically(snapshot.string(), r.body);
  }
  if (!is_commit_hash(id.revision) || id.revision != commit) {
    const fs::path ref = dir / "refs" / id.revision;
    fs::create_directories(ref.parent_path(), ec);
    if (ec) throw InputError(fmt::format("{}: cannot create {}: {}", id_text(id), ref.parent_path().string(), ec.message()));
    write_file_atomically(ref.string(), commit);
  }
  return snapshot.string();
}

#endif  // GMHA_HAVE_CURL

}  // namespace

std::optional<HubId> parse_hub_id(const std::string& arg) {
  HubId id;
  std::string repo = arg;
  if (const size_t at = arg.find('@'); at != std::string::npos) {
    repo = arg.substr(0, at);
    id.revision = arg.substr(at + 1);
    if (!valid_revision(id.revision)) return std::nullopt;
  }
  const size_t slash = repo.find('/');
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos) return std::nullopt;
  id.org = repo.substr(0, slash);
  id.name = repo.substr(slash + 1);
  if (!valid_name(id.org) || !valid_name(id.name)) return std::nullopt;
  return id;
}

std::string hub_cache_dir() {
  if (const std::string c = env("HF_HUB_CACHE"); !c.empty()) return c;
  if (const std::string h = env("HF_HOME"); !h.empty()) return (fs::path(h) / "hub").string();
  const std::string home = env("HOME");
  return (fs::path(home.empty() ? "." : home) / ".cache" / "huggingface" / "hub").string();
}

std::string hub_config_path(const HubId& id) {
  std::error_code ec;
  if (const std::string commit = cached_commit(id); !commit.empty()) {
    const fs::path p = repo_dir(id) / "snapshots" / commit / "config.json";
    if (fs::exists(p, ec)) return p.string();
  }
  if (env_true("HF_HUB_OFFLINE")) not_cached(id, "HF_HUB_OFFLINE is set");
#ifdef GMHA_HAVE_CURL
  std::string endpoint = env("HF_ENDPOINT");
  if (endpoint.empty()) endpoint = "https://huggingface.co";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const std::string url =
      fmt::format("{}/{}/{}/resolve/{}/config.json", endpoint, id.org, id.name, url_escape(id.revision));
  return store(id, fetch_config(id, url), url);
#else
  not_cached(id, "this gmha was built without libcurl, so it cannot download it "
                 "(install libcurl4-openssl-dev and rebuild, or put config.json in the cache)");
#endif
}

}  // namespace gmha::cli
