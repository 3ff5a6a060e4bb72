#pragma once
// Hugging Face hub ids as model inputs: `org/name[@revision]` names the config.json of a hub
// repository. It is read from the local Hugging Face cache, laid out as huggingface_hub lays it
// out, and, when not cached and downloads are allowed, fetched (config.json alone) into that
// cache first. README, "Hugging Face hub ids".
//
//   <cache>/models--<org>--<name>/refs/<revision>          the commit hash the revision names
//   <cache>/models--<org>--<name>/snapshots/<hash>/config.json -> ../../blobs/<etag>
//   <cache>/models--<org>--<name>/blobs/<etag>              the file's bytes
//
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
#include <optional>
#include <string>

namespace gmha::cli {

struct HubId {
  std::string org, name;
  std::string revision = "main";
  std::string repo() const { return org + "/" + name; }
};

/// Parses `org/name[@revision]`; nullopt when `arg` does not have that form (one '/', names of
/// letters, digits, '-', '_', '.', not starting with '.'; a revision without "..").
std::optional<HubId> parse_hub_id(const std::string& arg);

/// The cache folder searched: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub.
std::string hub_cache_dir();

/// The path of the cached config.json of `id`, downloading it first when it is not cached (unless
/// HF_HUB_OFFLINE is set). The download reads ${HF_ENDPOINT:-https://huggingface.co}/org/name/
/// resolve/<revision>/config.json with `Authorization: Bearer $HF_TOKEN` when HF_TOKEN is set.
/// Throws InputError (one line naming the id and the cache path searched) when it cannot.
std::string hub_config_path(const HubId& id);

}  // namespace gmha::cli
