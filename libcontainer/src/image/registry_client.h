// The OCI distribution API, read side: manifests (with platform selection through an image
// index) and blobs verified against their digest. Handles anonymous and Bearer-token auth
// (the WWW-Authenticate challenge), Basic auth, insecure (plain HTTP) registries and
// mirrors allowed by cocoon.yaml, and retries with backoff on 429 and 5xx.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "credentials.h"
#include "http.h"
#include "manifest.h"
#include "token_store.h"

namespace cocoon {

// Called as bytes arrive: (bytes of this blob so far).
using BlobProgress = std::function<void(uint64_t)>;

// Whether the user's credentials may go to a token service at `realm`: only over HTTPS,
// unless the admin marked the registry insecure (a realm on plain HTTP would show them to
// anyone on the path).
bool may_send_credentials(const std::string& realm, bool registry_insecure);

class RegistryClient {
public:
    RegistryClient(const std::string& registry, const std::string& repository, const Config& config,
                   std::optional<Credentials> credentials);

    struct Head {
        bool reachable = false; // the registry answered at all
        std::optional<std::string> digest; // Docker-Content-Digest of a 200 answer
    };
    // Keeps the bearer tokens it obtains in `tokens`, and starts with the one kept there for
    // this registry, repository and credentials, if any (token_store.h).
    void use_tokens(std::shared_ptr<const TokenStore> tokens);

    // What a tag or digest currently points to, with one HEAD request. Never throws:
    // an unreachable registry gives reachable = false.
    Head head_manifest(const std::string& reference);

    // The manifest for this node's platform, following an image index.
    ImageManifest get_manifest(const std::string& reference);

    // Streams a blob into `fd`, verifying size and digest. Throws on mismatch, and stops
    // the transfer as soon as more bytes arrive than the manifest declared.
    void get_blob(const BlobRef& blob, int fd, const BlobProgress& progress);

    // A blob read into memory (the image configuration), checked the same way; refuses
    // one that declares more than max_image_json_size bytes.
    std::string get_small_blob(const BlobRef& blob);

private:
    // Tries each endpoint, retrying network errors, 429 and 5xx; `restart` runs before
    // every try, so that a sink can drop what a cut-off earlier try gave it.
    HttpResponse send(const std::string& method, const std::string& path, const std::string& accept,
                      const BodySink& sink = {}, const std::function<void()>& restart = {});
    HttpResponse send_once(const std::string& base, const std::string& method,
                           const std::string& path, const std::string& accept,
                           const BodySink& sink);
    bool authenticate(const HttpResponse& challenge);
    std::string fetch_manifest(const std::string& reference, std::string* digest);

    std::string registry_;
    std::string repository_;
    std::vector<std::string> bases_; // mirrors first, then the registry itself
    std::optional<Credentials> credentials_;
    bool insecure_ = false; // cocoon.yaml marks the registry insecure (plain HTTP)
    std::string authorization_; // "Authorization: ..." once challenged, or a kept token
    std::shared_ptr<const TokenStore> tokens_;
    uint64_t timeout_; // cocoon.yaml transfer_timeout
    uint64_t stall_timeout_; // cocoon.yaml transfer_stall_timeout
    int max_attempts_; // cocoon.yaml transfer_retries, plus the first attempt
};

} // namespace cocoon
