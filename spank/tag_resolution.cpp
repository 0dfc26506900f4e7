#include "tag_resolution.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "cocoon/child_process.h"
#include "cocoon/error.h"
#include "cocoon/log.h"
#include "cocoon/programs.h"
#include "cocoon/unique_fd.h"
#include "options.h"

extern char** environ;

namespace cocoon::spank {

namespace {

constexpr const char* variable = "COCOON_RESOLVED_IMAGE";
// How long srun waits for the answer. The nodes would wait for the same registry, so a
// longer wait gains nothing.
constexpr int wait_ms = 5000;
constexpr size_t max_answer = 4096;

std::string read_all(int fd)
{
    std::string text;
    char buffer[512];
    ssize_t n;
    while (text.size() < max_answer && (n = read(fd, buffer, sizeof(buffer))) > 0)
        text.append(buffer, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

std::string step_key(spank_t sp)
{
    uint32_t job = 0;
    uint32_t step = 0;
    if (spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS)
        return {};
    return fmt::format("{}.{}", job, step);
}

// What `cocoon resolve` prints: one registry name with its digest.
bool is_pinned_name(const std::string& text)
{
    try {
        auto reference = parse_image_reference(text, "/");
        return reference.kind == ImageReference::Kind::Registry && !reference.digest.empty();
    } catch (const Error&) {
        return false;
    }
}

} // namespace

void resolve_tag_for_step(spank_t sp, const std::string& image, const std::string& config_path,
                          const std::function<bool()>& site_allows)
{
    unsetenv(variable);
    uint32_t nodes = 0;
    if (image.empty() || spank_get_item(sp, S_JOB_NNODES, &nodes) != ESPANK_SUCCESS || nodes < 2)
        return;
    try {
        ImageReference reference = parse_image_reference(image, "/");
        if (reference.kind != ImageReference::Kind::Registry || !reference.digest.empty())
            return;
    } catch (const Error&) {
        return; // refused elsewhere
    }
    if (!site_allows())
        return;
    std::string key = step_key(sp);
    std::string program;
    try {
        program = cocoon_command_path();
    } catch (const Error&) {
    }
    // Where srun runs without cocoon installed (inside a container, say), the nodes ask.
    UniqueFd program_fd(program.empty() ? -1 : open(program.c_str(), O_PATH | O_CLOEXEC));
    int pipe_fds[2];
    if (key.empty() || !program_fd.valid() || pipe2(pipe_fds, O_CLOEXEC) != 0) {
        log(LogLevel::Verbose, "{}: not resolved by srun ({}); each node asks", image,
            key.empty() ? "no step id" : fmt::format("cannot run '{}'", program));
        return;
    }
    UniqueFd output(pipe_fds[0]);
    std::string answer;
    std::optional<int> status;
    {
        UniqueFd write_end(pipe_fds[1]);
        ChildProcess::Spec spec;
        spec.program_fd = program_fd.get();
        spec.argv = {"cocoon", "resolve"};
        if (!config_path.empty())
            spec.argv.insert(spec.argv.end(), {"--config", config_path});
        spec.argv.push_back(image);
        for (char** entry = environ; *entry; ++entry)
            spec.envp.emplace_back(*entry); // proxies and credentials' locations included
        spec.descriptors = {{write_end.get(), 1}, {write_end.get(), 2}};
        try {
            ChildProcess child = ChildProcess::start(spec);
            status = child.wait_for(wait_ms); // the destructor ends it when it did not end
        } catch (const Error& e) {
            answer = e.what();
        }
    }
    if (status)
        answer = read_all(output.get());
    else if (answer.empty())
        answer = fmt::format("no answer within {} s", wait_ms / 1000);
    if (!status || ChildProcess::exit_code(*status) != 0) {
        log(LogLevel::Verbose, "{}: not resolved by srun ({}); each node asks", image,
            printable(answer)); // the registry's words may be in it
        return;
    }
    if (!is_pinned_name(answer)) {
        log(LogLevel::Verbose, "{}: not resolved by srun (it printed '{}'); each node asks", image,
            printable(answer));
        return;
    }
    log(LogLevel::Verbose, "{} is {} for step {}", image, answer, key);
    setenv(variable, (key + " " + answer).c_str(), 1);
}

std::string step_resolved_digest(spank_t sp, const ImageReference& image,
                                 const std::string& default_registry)
{
    auto value = job_env(sp, variable);
    spank_unsetenv(sp, variable);
    if (!value || image.kind != ImageReference::Kind::Registry || !image.digest.empty())
        return {};
    // "JOB.STEP NAME:TAG@DIGEST": only this step's answer, only for this image.
    size_t space = value->find(' ');
    if (space == std::string::npos || value->substr(0, space) != step_key(sp))
        return {};
    try {
        ImageReference answer =
            parse_image_reference(value->substr(space + 1), "/", default_registry);
        if (answer.kind != ImageReference::Kind::Registry || answer.digest.empty() ||
            answer.registry != image.registry || answer.repository != image.repository ||
            answer.tag != image.tag)
            return {};
        return answer.digest;
    } catch (const Error&) {
        return {};
    }
}

} // namespace cocoon::spank
