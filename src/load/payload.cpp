#include "load/payload.hpp"

#include <array>
#include <charconv>
#include <iterator>

namespace huddle::load {

namespace {

// SplitMix64 (Steele, Lea, Flood 2014): a few multiplies per draw and a state of one word,
// so a message's content can be drawn from (seed, sender, seq) afresh for every message.
class Random {
public:
  explicit Random(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }
  // In [0, n), small values more often (density -ln(x)): common words come up more.
  std::uint32_t skewed(std::uint32_t n) noexcept { return below(n) * below(n) / n; }

private:
  std::uint64_t state_;
};

Random random_for(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  Random r(seed);
  Random r2(r.next() ^ a);
  return Random(r2.next() ^ b);
}

// Roughly by how often they come up in chat: skewed() favours the first.
constexpr auto k_words = std::to_array<std::string_view>(
    {"the",     "I",         "to",      "you",     "a",        "and",     "it",       "is",
     "that",    "we",        "of",      "in",      "for",      "on",      "this",     "be",
     "have",    "can",       "just",    "so",      "not",      "do",      "it's",     "with",
     "are",     "but",       "at",      "what",    "if",       "will",    "was",      "my",
     "me",      "get",       "all",     "think",   "know",     "no",      "yes",      "ok",
     "good",    "like",      "about",   "up",      "out",      "now",     "there",    "one",
     "time",    "they",      "don't",   "here",    "need",     "see",     "go",       "today",
     "then",    "your",      "how",     "would",   "should",   "could",   "right",    "thanks",
     "sure",    "let",       "still",   "maybe",   "some",     "more",    "back",     "looks",
     "work",    "new",       "after",   "before",  "again",    "meeting", "tomorrow", "later",
     "soon",    "week",      "morning", "call",    "send",     "check",   "fix",      "build",
     "test",    "release",   "branch",  "review",  "deploy",   "issue",   "ticket",   "update",
     "version", "server",    "client",  "page",    "link",     "file",    "doc",      "notes",
     "plan",    "team",      "channel", "message", "question", "answer",  "idea",     "problem",
     "change",  "merge",     "ready",   "done",    "working",  "broken",  "slow",     "fast",
     "great",   "nice",      "fine",    "weird",   "probably", "exactly", "already",  "really",
     "pretty",  "quick",     "small",   "big",     "last",     "next",    "first",    "other",
     "same",    "different", "lunch",   "coffee",  "weekend",  "friday",  "monday",   "minutes",
     "hours",   "everyone",  "someone", "anyone",  "please",   "sorry",   "agree",    "wait",
     "try",     "look",      "seems",   "means",   "also",     "because", "though",   "when",
     "where",   "which",     "who",     "why",     "yet",      "ever",    "never",    "always",
     "around",  "into",      "over",    "from",    "by",       "an"});

constexpr auto k_names = std::to_array<std::string_view>(
    {"maria", "jonas",  "aiko",  "omar",  "lena",  "ravi",  "sofia", "mateo",
     "chen",  "fatima", "lukas", "amara", "noah",  "yuki",  "elena", "kofi",
     "ines",  "tariq",  "hana",  "pavel", "zoe",   "diego", "mei",   "arjun",
     "nora",  "felix",  "leila", "sven",  "priya", "hugo",  "ada",   "ivan"});

constexpr auto k_roles = std::to_array<std::string_view>(
    {"member", "member", "member", "member", "member", "member", "admin", "guest"});

constexpr auto k_app_clients = std::to_array<std::string_view>(
    {"web/2.14.0", "web/2.13.2", "ios/2.14.1", "android/2.14.0", "desktop/2.12.3"});

// 2025-11-24 in Unix milliseconds: the send time on the run's clock is added to it.
constexpr std::uint64_t k_epoch_ms = 1'764'000'000'000;

template <typename T> void append_number(std::string& out, T value) {
  char digits[24];
  auto const res = std::to_chars(std::begin(digits), std::end(digits), value);
  out.append(digits, res.ptr);
}

template <std::size_t N>
std::string_view pick(Random& random, std::array<std::string_view, N> const& from) {
  return from[random.below(static_cast<std::uint32_t>(N))];
}

// Appends sentences of words to `out` until exactly `length` more characters are in it
// (the last word cut if need be).
void append_sentences(std::string& out, std::size_t length, Random& random) {
  std::size_t const end = out.size() + length;
  auto put = [&](std::string_view piece) {
    out.append(piece.substr(0, end - out.size()));
    return out.size() < end;
  };
  for (bool first_sentence = true;; first_sentence = false) {
    if (!first_sentence && !put(" ")) return;
    std::uint32_t const words = 3 + random.below(12);
    for (std::uint32_t w = 0; w < words; ++w) {
      if (w > 0 && !put(" ")) return;
      std::string_view const word = k_words[random.skewed(k_words.size())];
      if (w == 0) {
        char const capital =
            word[0] >= 'a' && word[0] <= 'z' ? static_cast<char>(word[0] - 'a' + 'A') : word[0];
        if (!put(std::string_view(&capital, 1)) || !put(word.substr(1))) return;
      } else if (!put(word)) {
        return;
      }
    }
    std::uint32_t const mark = random.below(20);
    if (!put(mark < 16 ? "." : mark < 19 ? "?" : "!")) return;
  }
}

} // namespace

bool parse_payload_kind(std::string_view name, PayloadKind& kind) noexcept {
  if (name == "padding") {
    kind = PayloadKind::padding;
  } else if (name == "json") {
    kind = PayloadKind::json;
  } else {
    return false;
  }
  return true;
}

std::string_view payload_kind_name(PayloadKind kind) noexcept {
  return kind == PayloadKind::json ? "json" : "padding";
}

void make_json_document(std::string& out, Marker const& marker, std::size_t size,
                        std::uint64_t seed) {
  // A member is the same user in every message it sends.
  Random user = random_for(seed, marker.sender);
  Random message = random_for(seed, marker.sender, marker.seq + 1);
  out.clear();
  out.append(R"({"client_msg_id":")");
  append_marker(out, marker);
  out.append(R"(","user":{"id":)");
  append_number(out, 10'000 + user.below(990'000));
  out.append(R"(,"name":")");
  out.append(pick(user, k_names));
  out.push_back('.');
  out.push_back(static_cast<char>('a' + user.below(26)));
  out.append(R"(","role":")");
  out.append(pick(user, k_roles));
  out.append(R"("},"ts":)");
  append_number(out, k_epoch_ms + marker.send_ns / 1'000'000);
  out.append(R"(,"text":")");
  std::size_t const text_at = out.size();

  // What follows the text, built at the end first so the text can take the rest of `size`.
  out.append(R"(","lang":"en","reply_to":)");
  if (message.below(5) == 0) {
    append_number(out, 1 + message.below(9'999'999));
  } else {
    out.append("null");
  }
  out.append(R"(,"mentions":[)");
  for (std::uint32_t i = 0, n = message.below(8) == 0 ? 1 + message.below(2) : 0; i < n; ++i) {
    if (i > 0) out.push_back(',');
    append_number(out, 10'000 + message.below(990'000));
  }
  out.append(R"(],"attrs":{"client":")");
  out.append(pick(user, k_app_clients));
  out.append(R"(","edited":)");
  out.append(message.below(10) == 0 ? "true" : "false");
  out.append(R"(,"pinned":false}})");

  std::size_t const tail = out.size() - text_at;
  std::string const after(out, text_at);
  out.resize(text_at);
  append_sentences(out, size > text_at + tail ? size - text_at - tail : 1, message);
  out.append(after);
}

void append_v1_message(std::string& out, std::string_view text) {
  out.append(R"({"type":"message","text":")");
  for (char const c : text) {
    if (c == '"') out.push_back('\\');
    out.push_back(c);
  }
  out.append(R"("})");
}

std::string const& PayloadMaker::make(Marker const& marker) {
  if (kind_ == PayloadKind::padding) {
    make_payload(frame_, marker, size_);
    return frame_;
  }
  make_json_document(document_, marker, size_, seed_);
  frame_.clear();
  append_v1_message(frame_, document_);
  return frame_;
}

} // namespace huddle::load
