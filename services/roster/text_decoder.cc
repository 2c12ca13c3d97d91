#include "services/roster/text_decoder.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/roster/ascii_text.h"

namespace rostersync::roster {
namespace {

// An ASCII byte that decodes to itself in UTF-8 and Windows-1252 and is neither NUL nor a
// line break.
inline bool IsPlainAscii(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b != 0 && b < 0x80 && b != '\r' && b != '\n';
}

constexpr size_t kHeadBytes = 8;  // enough for every BOM and binary signature below

// Windows-1252 0x80-0x9F (the WHATWG table: the five undefined bytes map to C1 controls).
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

struct Signature {
  std::string_view magic;
  std::string_view what;
};

constexpr Signature kBinarySignatures[] = {
    {std::string_view("PK\x03\x04", 4),
     "a zip archive (an Excel .xlsx, .ods or .zip file; export the sheet as CSV)"},
    {std::string_view("PK\x05\x06", 4), "an empty zip archive"},
    {std::string_view("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8),
     "an OLE2 compound document (an old Excel .xls file; export the sheet as CSV)"},
    {"%PDF-", "a PDF document"},
    {std::string_view("\x1F\x8B", 2), "a gzip archive"},
    {std::string_view("\x89PNG\r\n\x1A\n", 8), "a PNG image"},
    {std::string_view("\xFF\xD8\xFF", 3), "a JPEG image"},
    {"GIF87a", "a GIF image"},
    {"GIF89a", "a GIF image"},
    {std::string_view("7z\xBC\xAF\x27\x1C", 6), "a 7-Zip archive"},
    {std::string_view("Rar!\x1A\x07", 6), "a RAR archive"},
    {std::string_view("\x7F"
                      "ELF",
                      4),
     "an ELF executable"},
};

bool IsControl(uint32_t cp) {
  return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r' && cp != '\f') || cp == 0x7F;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    if (!out.empty()) out.push_back(' ');
    absl::StrAppendFormat(&out, "0x%02X", b);
  }
  return out;
}

}  // namespace

std::string_view TextEncodingName(TextEncoding encoding) {
  switch (encoding) {
    case TextEncoding::kAuto:
      return "auto";
    case TextEncoding::kUtf8:
      return "utf-8";
    case TextEncoding::kUtf16:
      return "utf-16";
    case TextEncoding::kUtf16Le:
      return "utf-16le";
    case TextEncoding::kUtf16Be:
      return "utf-16be";
    case TextEncoding::kWindows1252:
      return "windows-1252";
  }
  return "unknown";
}

absl::StatusOr<TextEncoding> ParseTextEncoding(std::string_view name) {
  const std::string n = ToLower(Trim(name));
  if (n.empty() || n == "auto") return TextEncoding::kAuto;
  if (n == "utf-8" || n == "utf8") return TextEncoding::kUtf8;
  if (n == "utf-16" || n == "utf16") return TextEncoding::kUtf16;
  if (n == "utf-16le" || n == "utf16le") return TextEncoding::kUtf16Le;
  if (n == "utf-16be" || n == "utf16be") return TextEncoding::kUtf16Be;
  if (n == "windows-1252" || n == "cp1252" || n == "latin1" || n == "iso-8859-1") {
    return TextEncoding::kWindows1252;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown encoding \"", std::string(name),
                   "\" (expected auto, utf-8, utf-16, utf-16le, utf-16be or windows-1252)"));
}

absl::StatusOr<TextDecoder> TextDecoder::Create(std::string_view encoding, std::string file_name) {
  absl::StatusOr<TextEncoding> e = ParseTextEncoding(encoding);
  if (!e.ok()) {
    if (file_name.empty()) return e.status();
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": ", e.status().message()));
  }
  return TextDecoder(*e, std::move(file_name));
}

TextDecoder::TextDecoder(TextEncoding requested, std::string file_name)
    : requested_(requested), encoding_(requested), file_name_(std::move(file_name)) {}

absl::Status TextDecoder::Fail(std::string message) {
  error_ = absl::InvalidArgumentError(file_name_.empty() ? std::move(message)
                                                         : absl::StrCat(file_name_, ": ", message));
  return error_;
}

std::string TextDecoder::Where(uint64_t at) const {
  return absl::StrCat("line ", line_, ", byte offset ", at);
}

absl::Status TextDecoder::Feed(std::string_view chunk, std::string* out) {
  if (!error_.ok()) return error_;
  if (!started_) {
    const size_t take = std::min(chunk.size(), kHeadBytes - head_.size());
    head_.append(chunk.substr(0, take));
    chunk.remove_prefix(take);
    if (head_.size() < kHeadBytes) return absl::OkStatus();
    if (absl::Status s = Start(out); !s.ok()) return s;
  }
  return Decode(chunk, out);
}

absl::Status TextDecoder::Finish(std::string* out) {
  if (!error_.ok()) return error_;
  if (!started_) {
    if (absl::Status s = Start(out); !s.ok()) return s;
  }
  if (encoding_ == TextEncoding::kUtf8 && need_ > 0) {
    return Fail(absl::StrCat("invalid UTF-8 at ", Where(seq_start_),
                             ": the file ends inside a multi-byte sequence (", Hex(seq_),
                             "); if the file is not UTF-8, set the encoding to "
                             "\"windows-1252\""));
  }
  if (encoding_ == TextEncoding::kUtf16Le || encoding_ == TextEncoding::kUtf16Be) {
    if (unit_bytes_ == 1) {
      return Fail(absl::StrCat("invalid UTF-16: odd number of bytes, a lone trailing byte at ",
                               Where(offset_ - 1)));
    }
    if (high_surrogate_ != 0) {
      return Fail(
          absl::StrFormat("invalid UTF-16: unpaired high surrogate 0x%04X at %s (the "
                          "file ends inside a surrogate pair)",
                          high_surrogate_, Where(high_at_)));
    }
  }
  if (sampling_) return EndSample(out);
  return absl::OkStatus();
}

absl::Status TextDecoder::Start(std::string* out) {
  started_ = true;
  std::string_view h = head_;
  if (h.substr(0, 3) == "\xEF\xBB\xBF") {
    encoding_ = TextEncoding::kUtf8;
    had_bom_ = true;
  } else if (h.substr(0, 2) == "\xFF\xFE") {
    encoding_ = TextEncoding::kUtf16Le;
    had_bom_ = true;
  } else if (h.substr(0, 2) == "\xFE\xFF") {
    encoding_ = TextEncoding::kUtf16Be;
    had_bom_ = true;
  }
  if (had_bom_) {
    const size_t bom = encoding_ == TextEncoding::kUtf8 ? 3 : 2;
    h.remove_prefix(bom);
    offset_ += bom;
  } else {
    for (const Signature& sig : kBinarySignatures) {
      if (h.substr(0, sig.magic.size()) == sig.magic) {
        return Fail(absl::StrCat("not a text file: it starts with the signature of ",
                                 std::string(sig.what), " (", Hex(sig.magic),
                                 " at byte offset 0)"));
      }
    }
    if (requested_ == TextEncoding::kAuto) {
      encoding_ = TextEncoding::kUtf8;
    } else if (requested_ == TextEncoding::kUtf16) {
      return Fail(
          "encoding utf-16 needs a byte order mark and the file has none; set the encoding to "
          "utf-16le or utf-16be");
    }
  }
  absl::Status s = Decode(h, out);
  head_.clear();
  head_.shrink_to_fit();
  return s;
}

absl::Status TextDecoder::Decode(std::string_view bytes, std::string* out) {
  std::string* sink = sampling_ ? &held_ : out;
  const bool ascii_compatible =
      encoding_ == TextEncoding::kUtf8 || encoding_ == TextEncoding::kWindows1252;
  for (size_t i = 0; i < bytes.size(); ++i) {
    // Fast path: a run of ASCII bytes other than NUL, CR and LF decodes to itself and changes
    // no state but the offset (the control-character sample and line breaks go byte by byte).
    if (ascii_compatible && need_ == 0 && !sampling_) {
      size_t j = i;
      while (j < bytes.size() && IsPlainAscii(bytes[j])) ++j;
      if (j > i) {
        sink->append(bytes.data() + i, j - i);
        offset_ += j - i;
        prev_cr_ = false;
        i = j;
        if (i == bytes.size()) break;
      }
    }
    const auto b = static_cast<unsigned char>(bytes[i]);
    absl::Status s;
    switch (encoding_) {
      case TextEncoding::kUtf8:
        s = DecodeUtf8(b, sink);
        break;
      case TextEncoding::kUtf16Le:
      case TextEncoding::kUtf16Be:
        s = DecodeUtf16(b, sink);
        break;
      case TextEncoding::kWindows1252:
        s = Emit(b >= 0x80 && b < 0xA0 ? kCp1252High[b - 0x80] : b, offset_, sink);
        break;
      default:
        s = Fail("internal error: encoding not decided");
    }
    if (!s.ok()) return s;
    ++offset_;
    if (sampling_ && offset_ >= kSampleBytes) {
      if (absl::Status e = EndSample(out); !e.ok()) return e;
      sink = out;
    }
  }
  return absl::OkStatus();
}

absl::Status TextDecoder::EndSample(std::string* out) {
  sampling_ = false;
  const uint64_t sample = std::min<uint64_t>(offset_, kSampleBytes);
  if (sample > 0 && sample_controls_ * 10 > sample) {
    held_.clear();
    return Fail(absl::StrFormat(
        "not a text file: %d of its first %d bytes are control characters (the first, "
        "U+%04X, at byte offset %d)",
        sample_controls_, sample, first_control_, first_control_at_));
  }
  out->append(held_);
  held_.clear();
  held_.shrink_to_fit();
  return absl::OkStatus();
}

absl::Status TextDecoder::DecodeUtf8(unsigned char b, std::string* out) {
  if (need_ == 0) {
    if (b < 0x80) return Emit(b, offset_, out);
    seq_start_ = offset_;
    seq_.assign(1, static_cast<char>(b));
    lower_ = 0x80;
    upper_ = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need_ = 1;
      cp_ = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need_ = 2;
      cp_ = b & 0x0F;
      if (b == 0xE0) lower_ = 0xA0;  // no overlong forms
      if (b == 0xED) upper_ = 0x9F;  // no UTF-16 surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      need_ = 3;
      cp_ = b & 0x07;
      if (b == 0xF0) lower_ = 0x90;
      if (b == 0xF4) upper_ = 0x8F;  // nothing above U+10FFFF
    } else {
      return Fail(absl::StrCat("invalid UTF-8 at ", Where(offset_), ": byte ",
                               Hex(std::string(1, static_cast<char>(b))),
                               " cannot start a character; if the file is not UTF-8 (for "
                               "example an Excel or Windows export), set the encoding to "
                               "\"windows-1252\""));
    }
    return absl::OkStatus();
  }
  if (b < lower_ || b > upper_) {
    seq_.push_back(static_cast<char>(b));
    return Fail(absl::StrCat("invalid UTF-8 at ", Where(seq_start_), ": bad byte sequence ",
                             Hex(seq_),
                             "; if the file is not UTF-8 (for example an Excel or Windows "
                             "export), set the encoding to \"windows-1252\""));
  }
  seq_.push_back(static_cast<char>(b));
  lower_ = 0x80;
  upper_ = 0xBF;
  cp_ = (cp_ << 6) | (b & 0x3F);
  if (--need_ == 0) return Emit(cp_, seq_start_, out);
  return absl::OkStatus();
}

absl::Status TextDecoder::DecodeUtf16(unsigned char b, std::string* out) {
  if (unit_bytes_ == 0) {
    unit_ = b;
    unit_bytes_ = 1;
    return absl::OkStatus();
  }
  unit_bytes_ = 0;
  const uint32_t unit =
      encoding_ == TextEncoding::kUtf16Le ? (unit_ | (uint32_t{b} << 8)) : ((unit_ << 8) | b);
  const uint64_t at = offset_ - 1;
  if (high_surrogate_ != 0) {
    if (unit < 0xDC00 || unit > 0xDFFF) {
      return Fail(absl::StrFormat(
          "invalid UTF-16: unpaired high surrogate 0x%04X at %s (followed by 0x%04X)",
          high_surrogate_, Where(high_at_), unit));
    }
    const uint32_t cp = 0x10000 + ((high_surrogate_ - 0xD800) << 10) + (unit - 0xDC00);
    high_surrogate_ = 0;
    return Emit(cp, high_at_, out);
  }
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    high_surrogate_ = unit;
    high_at_ = at;
    return absl::OkStatus();
  }
  if (unit >= 0xDC00 && unit <= 0xDFFF) {
    return Fail(
        absl::StrFormat("invalid UTF-16: unpaired low surrogate 0x%04X at %s", unit, Where(at)));
  }
  return Emit(unit, at, out);
}

absl::Status TextDecoder::Emit(uint32_t cp, uint64_t at, std::string* out) {
  if (cp == 0) {
    std::string hint;
    if (encoding_ == TextEncoding::kUtf8 && !had_bom_ && at < 4) {
      hint =
          " (if the file is UTF-16 without a byte order mark, set the encoding to utf-16le "
          "or utf-16be)";
    }
    return Fail(absl::StrCat("not a text file: NUL byte at ", Where(at), hint));
  }
  if (sampling_ && IsControl(cp)) {
    if (sample_controls_++ == 0) {
      first_control_ = cp;
      first_control_at_ = at;
    }
  }
  if (cp == '\n') {
    if (!prev_cr_) ++line_;
  } else if (cp == '\r') {
    ++line_;
  }
  prev_cr_ = (cp == '\r');
  AppendUtf8(cp, out);
  return absl::OkStatus();
}

}  // namespace rostersync::roster
