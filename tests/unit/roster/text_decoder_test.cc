#include "services/roster/text_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;

struct Decoded {
  absl::Status status;
  std::string text;
  TextEncoding encoding = TextEncoding::kAuto;
  bool had_bom = false;
};

// Decodes `input` in chunks of `chunk` bytes (0: all at once).
Decoded Decode(std::string_view input, std::string_view encoding = "auto", size_t chunk = 0) {
  Decoded d;
  absl::StatusOr<TextDecoder> decoder = TextDecoder::Create(encoding, "roster.csv");
  if (!decoder.ok()) {
    d.status = decoder.status();
    return d;
  }
  if (chunk == 0) chunk = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += chunk) {
    d.status = decoder->Feed(input.substr(i, chunk), &d.text);
    if (!d.status.ok()) return d;
  }
  d.status = decoder->Finish(&d.text);
  d.encoding = decoder->encoding();
  d.had_bom = decoder->had_bom();
  return d;
}

std::string Message(const Decoded& d) { return std::string(d.status.message()); }

// UTF-16 bytes of a UTF-16 code unit sequence.
std::string Utf16(std::initializer_list<uint16_t> units, bool little_endian, bool bom) {
  std::string out;
  auto put = [&](uint16_t u) {
    if (little_endian) {
      out.push_back(static_cast<char>(u & 0xFF));
      out.push_back(static_cast<char>(u >> 8));
    } else {
      out.push_back(static_cast<char>(u >> 8));
      out.push_back(static_cast<char>(u & 0xFF));
    }
  };
  if (bom) put(0xFEFF);
  for (uint16_t u : units) put(u);
  return out;
}

// "id,name\n1,Zoë 😀\n" as UTF-16 code units (U+1F600 is the pair D83D DE00).
const std::initializer_list<uint16_t> kUnits = {
    'i', 'd', ',', 'n', 'a', 'm', 'e', '\n', '1', ',', 'Z', 'o', 0x00EB, ' ', 0xD83D, 0xDE00, '\n'};
constexpr std::string_view kUnitsUtf8 = "id,name\n1,Zo\xC3\xAB \xF0\x9F\x98\x80\n";

TEST(ParseTextEncodingTest, NamesAndAliases) {
  EXPECT_EQ(*ParseTextEncoding(""), TextEncoding::kAuto);
  EXPECT_EQ(*ParseTextEncoding(" AUTO "), TextEncoding::kAuto);
  EXPECT_EQ(*ParseTextEncoding("UTF-8"), TextEncoding::kUtf8);
  EXPECT_EQ(*ParseTextEncoding("utf-16le"), TextEncoding::kUtf16Le);
  EXPECT_EQ(*ParseTextEncoding("utf-16be"), TextEncoding::kUtf16Be);
  EXPECT_EQ(*ParseTextEncoding("cp1252"), TextEncoding::kWindows1252);
  EXPECT_EQ(*ParseTextEncoding("Windows-1252"), TextEncoding::kWindows1252);
  absl::StatusOr<TextEncoding> bad = ParseTextEncoding("ebcdic");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("ebcdic"));
}

TEST(TextDecoderTest, PlainUtf8PassesThrough) {
  Decoded d = Decode("a,b\n\xC3\xA9t\xC3\xA9,\xE2\x82\xAC\n");
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.text, "a,b\n\xC3\xA9t\xC3\xA9,\xE2\x82\xAC\n");
  EXPECT_EQ(d.encoding, TextEncoding::kUtf8);
  EXPECT_FALSE(d.had_bom);
}

TEST(TextDecoderTest, Utf8BomIsStrippedAndReported) {
  const std::string input = "\xEF\xBB\xBFperson_id,email\n1,a@b.c\n";
  for (size_t chunk = 0; chunk <= 5; ++chunk) {
    Decoded d = Decode(input, "auto", chunk);
    ASSERT_TRUE(d.status.ok()) << d.status;
    EXPECT_EQ(d.text, "person_id,email\n1,a@b.c\n") << "chunk " << chunk;
    EXPECT_TRUE(d.had_bom);
    EXPECT_EQ(d.encoding, TextEncoding::kUtf8);
  }
}

TEST(TextDecoderTest, ShortFilesShorterThanTheHead) {
  Decoded empty = Decode("");
  ASSERT_TRUE(empty.status.ok()) << empty.status;
  EXPECT_EQ(empty.text, "");
  Decoded a = Decode("a\n");
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.text, "a\n");
  Decoded bom_only = Decode("\xEF\xBB\xBF");
  ASSERT_TRUE(bom_only.status.ok());
  EXPECT_EQ(bom_only.text, "");
  EXPECT_TRUE(bom_only.had_bom);
}

TEST(TextDecoderTest, Utf16LeWithBomEveryChunkSize) {
  const std::string input = Utf16(kUnits, /*little_endian=*/true, /*bom=*/true);
  for (size_t chunk = 0; chunk <= input.size(); ++chunk) {
    Decoded d = Decode(input, "auto", chunk);
    ASSERT_TRUE(d.status.ok()) << "chunk " << chunk << ": " << d.status;
    EXPECT_EQ(d.text, kUnitsUtf8) << "chunk " << chunk;
    EXPECT_EQ(d.encoding, TextEncoding::kUtf16Le);
    EXPECT_TRUE(d.had_bom);
  }
}

TEST(TextDecoderTest, Utf16BeWithBomEveryChunkSize) {
  const std::string input = Utf16(kUnits, /*little_endian=*/false, /*bom=*/true);
  for (size_t chunk = 0; chunk <= input.size(); ++chunk) {
    Decoded d = Decode(input, "auto", chunk);
    ASSERT_TRUE(d.status.ok()) << "chunk " << chunk << ": " << d.status;
    EXPECT_EQ(d.text, kUnitsUtf8) << "chunk " << chunk;
    EXPECT_EQ(d.encoding, TextEncoding::kUtf16Be);
  }
}

TEST(TextDecoderTest, ExplicitUtf16WithoutBom) {
  Decoded le = Decode(Utf16(kUnits, true, false), "utf-16le", 3);
  ASSERT_TRUE(le.status.ok()) << le.status;
  EXPECT_EQ(le.text, kUnitsUtf8);
  Decoded be = Decode(Utf16(kUnits, false, false), "utf-16be", 3);
  ASSERT_TRUE(be.status.ok()) << be.status;
  EXPECT_EQ(be.text, kUnitsUtf8);
  Decoded need_bom = Decode(Utf16(kUnits, true, false), "utf-16");
  EXPECT_TRUE(absl::IsInvalidArgument(need_bom.status));
  EXPECT_THAT(Message(need_bom), HasSubstr("byte order mark"));
}

TEST(TextDecoderTest, Utf16WithoutBomInAutoModeIsRejectedWithAHint) {
  Decoded d = Decode(Utf16(kUnits, true, false));
  EXPECT_TRUE(absl::IsInvalidArgument(d.status));
  EXPECT_THAT(Message(d), HasSubstr("not a text file: NUL byte"));
  EXPECT_THAT(Message(d), HasSubstr("byte offset 1"));
  EXPECT_THAT(Message(d), HasSubstr("utf-16le"));
}

TEST(TextDecoderTest, Utf16OddTrailingByteNamesTheOffset) {
  std::string input = Utf16({'a', ',', 'b', '\n'}, true, true);
  input.push_back('x');  // 11 bytes: the last one, at offset 10, is half a code unit
  Decoded d = Decode(input);
  EXPECT_TRUE(absl::IsInvalidArgument(d.status));
  EXPECT_THAT(Message(d), HasSubstr("odd number of bytes"));
  EXPECT_THAT(Message(d), HasSubstr("byte offset 10"));
  EXPECT_THAT(Message(d), HasSubstr("roster.csv: "));
}

TEST(TextDecoderTest, Utf16UnpairedSurrogatesNameTheOffset) {
  // High surrogate followed by a normal character, at offset 2 + 2*2 = 6.
  Decoded high = Decode(Utf16({'a', 'b', 0xD83D, 'c', '\n'}, true, true));
  EXPECT_TRUE(absl::IsInvalidArgument(high.status));
  EXPECT_THAT(Message(high), HasSubstr("unpaired high surrogate 0xD83D"));
  EXPECT_THAT(Message(high), HasSubstr("byte offset 6"));
  // Lone low surrogate at offset 2.
  Decoded low = Decode(Utf16({0xDE00, 'a'}, false, true));
  EXPECT_TRUE(absl::IsInvalidArgument(low.status));
  EXPECT_THAT(Message(low), HasSubstr("unpaired low surrogate 0xDE00"));
  EXPECT_THAT(Message(low), HasSubstr("byte offset 2"));
  // High surrogate at the very end.
  Decoded end = Decode(Utf16({'a', 0xD83D}, true, true));
  EXPECT_TRUE(absl::IsInvalidArgument(end.status));
  EXPECT_THAT(Message(end), HasSubstr("unpaired high surrogate"));
  EXPECT_THAT(Message(end), HasSubstr("byte offset 4"));
}

TEST(TextDecoderTest, Windows1252FullHighRange) {
  // "€ “smart” ‘quotes’ café – Œ ž Ÿ" and the undefined 0x81 (a C1 control, as in browsers).
  const std::string input = "\x80 \x93smart\x94 \x91quotes\x92 caf\xE9 \x96 \x8C \x9E \x9F \x81\n";
  Decoded d = Decode(input, "windows-1252", 1);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.text,
            "\xE2\x82\xAC \xE2\x80\x9Csmart\xE2\x80\x9D \xE2\x80\x98quotes\xE2\x80\x99 "
            "caf\xC3\xA9 \xE2\x80\x93 \xC5\x92 \xC5\xBE \xC5\xB8 \xC2\x81\n");
  EXPECT_EQ(d.encoding, TextEncoding::kWindows1252);
}

TEST(TextDecoderTest, Windows1252EveryByteDecodes) {
  std::string input;
  for (int b = 0x20; b < 0x100; ++b) input.push_back(static_cast<char>(b));
  Decoded d = Decode(input, "windows-1252");
  ASSERT_TRUE(d.status.ok()) << d.status;
  // Re-decoding the output as UTF-8 validates it.
  Decoded again = Decode(d.text, "utf-8");
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(again.text, d.text);
}

TEST(TextDecoderTest, BomWinsOverConfiguredWindows1252) {
  Decoded d = Decode("\xEF\xBB\xBF\xC3\xA9\n", "windows-1252");
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.text, "\xC3\xA9\n");
  EXPECT_EQ(d.encoding, TextEncoding::kUtf8);
}

TEST(TextDecoderTest, InvalidUtf8NamesLineAndOffsetAndSuggests1252) {
  // "café" in Windows-1252 on line 2: the 0xE9 is at byte offset 7.
  Decoded d = Decode("a,b\ncaf\xE9,x\n", "auto", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(d.status));
  EXPECT_THAT(Message(d), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(Message(d), HasSubstr("line 2, byte offset 7"));
  EXPECT_THAT(Message(d), HasSubstr("0xE9"));
  EXPECT_THAT(Message(d), HasSubstr("windows-1252"));
  EXPECT_THAT(Message(d), HasSubstr("roster.csv: "));
}

// ASCII is copied in runs past the 8 KiB sample; line and offset of an error stay exact, and
// so does the text, whatever the chunk size (CRLF, lone CR and multi-byte characters mixed in).
TEST(TextDecoderTest, AsciiRunsKeepLineAndOffsetForEveryChunkSize) {
  std::string input;
  for (int i = 0; i < 400; ++i) {
    input += "E0001,Zo\xC3\xAB,caf\xC3\xA9 long ascii text to fill the sample";
    input += (i % 3 == 0) ? "\r\n" : (i % 3 == 1 ? "\n" : "\r");
  }
  const std::string good = Decode(input).text;
  ASSERT_EQ(good.size(), input.size());
  const size_t bad_at = input.size() + 4;  // "xyz,\xE9" on line 401
  input += "xyz,\xE9\n";
  for (size_t chunk : {0, 1, 3, 64, 4096, 9000}) {
    Decoded ok = Decode(std::string_view(input).substr(0, bad_at), "auto", chunk);
    ASSERT_TRUE(ok.status.ok()) << "chunk " << chunk << ": " << ok.status;
    EXPECT_EQ(ok.text, good + "xyz,") << "chunk " << chunk;
    Decoded d = Decode(input, "auto", chunk);
    EXPECT_TRUE(absl::IsInvalidArgument(d.status)) << "chunk " << chunk;
    EXPECT_THAT(Message(d), HasSubstr(absl::StrCat("line 401, byte offset ", bad_at)))
        << "chunk " << chunk;
  }
}

TEST(TextDecoderTest, InvalidUtf8Forms) {
  for (std::string_view bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                               "\xF8\x88\x80\x80", "\xFF", "\x80", "\xC3(", "\xE2\x82"}) {
    Decoded d = Decode(absl::StrCat("ok,", std::string(bad), "\n"), "utf-8");
    EXPECT_TRUE(absl::IsInvalidArgument(d.status)) << bad;
    EXPECT_THAT(Message(d), HasSubstr("byte offset 3")) << bad;
  }
  Decoded truncated = Decode("ok,\xE2\x82", "utf-8");
  EXPECT_THAT(Message(truncated), HasSubstr("ends inside a multi-byte sequence"));
}

TEST(TextDecoderTest, NulByteIsNotText) {
  using namespace std::string_literals;
  const std::string input = "id,name\n1,Ann\n2,B\0b\n"s;  // the NUL is on line 3, offset 17
  for (std::string_view encoding : {"auto", "utf-8", "windows-1252"}) {
    Decoded d = Decode(input, encoding, 4);
    EXPECT_TRUE(absl::IsInvalidArgument(d.status)) << encoding;
    EXPECT_THAT(Message(d), HasSubstr("not a text file: NUL byte at line 3, byte offset 17"))
        << encoding;
    EXPECT_EQ(d.text, "") << "nothing is released before the file is known to be text";
  }
  // Far past the sample too.
  std::string big(100000, 'x');
  big[70000] = '\0';
  Decoded d = Decode(big, "auto", 4096);
  EXPECT_THAT(Message(d), HasSubstr("NUL byte at line 1, byte offset 70000"));
}

TEST(TextDecoderTest, XlsxZipSignatureIsNotText) {
  const std::string xlsx("PK\x03\x04\x14\x00\x06\x00\x08\x00", 10);
  Decoded d = Decode(xlsx, "auto", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(d.status));
  EXPECT_THAT(Message(d), HasSubstr("not a text file"));
  EXPECT_THAT(Message(d), HasSubstr(".xlsx"));
  EXPECT_THAT(Message(d), HasSubstr("byte offset 0"));
  // Also when the integration says windows-1252 (where every byte would decode).
  EXPECT_THAT(Message(Decode(xlsx, "windows-1252")), HasSubstr(".xlsx"));
  // And an old .xls.
  EXPECT_THAT(Message(Decode(std::string("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00", 10))),
              HasSubstr(".xls"));
  // A file that merely starts with "PK" is text.
  Decoded pk = Decode("PK,name\n1,x\n");
  EXPECT_TRUE(pk.status.ok()) << pk.status;
}

TEST(TextDecoderTest, ManyControlCharactersIsNotText) {
  std::string input;
  for (int i = 0; i < 2000; ++i) input += "ab\x01\x02\x03\x04";  // 12000 bytes
  Decoded d = Decode(input, "windows-1252", 1000);
  EXPECT_TRUE(absl::IsInvalidArgument(d.status));
  EXPECT_THAT(Message(d), HasSubstr("not a text file"));
  EXPECT_THAT(Message(d), HasSubstr("control characters"));
  EXPECT_THAT(Message(d), HasSubstr("byte offset 2"));
  EXPECT_EQ(d.text, "");
  // A few stray control characters in a normal file are fine.
  std::string ok(20000, 'a');
  ok[100] = '\x1A';
  ok[5000] = '\x0B';
  Decoded fine = Decode(ok, "auto", 333);
  ASSERT_TRUE(fine.status.ok()) << fine.status;
  EXPECT_EQ(fine.text, ok);
}

TEST(TextDecoderTest, LargeInputStreamsWithBoundedHoldBack) {
  absl::StatusOr<TextDecoder> decoder = TextDecoder::Create("auto");
  ASSERT_TRUE(decoder.ok());
  std::string chunk(4096, 'a');
  std::string out;
  size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(decoder->Feed(chunk, &out).ok());
    total += out.size();
    if (i >= 2) {
      EXPECT_EQ(out.size(), chunk.size()) << "once past the sample, output flows";
    }
    out.clear();
  }
  ASSERT_TRUE(decoder->Finish(&out).ok());
  total += out.size();
  EXPECT_EQ(total, 1000u * 4096u);
  EXPECT_EQ(decoder->bytes_in(), 1000u * 4096u);
}

TEST(TextDecoderTest, ErrorIsSticky) {
  absl::StatusOr<TextDecoder> decoder = TextDecoder::Create("utf-8");
  ASSERT_TRUE(decoder.ok());
  std::string out;
  absl::Status first = decoder->Feed("abcdefgh\xFF", &out);
  EXPECT_TRUE(absl::IsInvalidArgument(first));
  EXPECT_EQ(decoder->Finish(&out), first);
  EXPECT_FALSE(decoder->Feed("more", &out).ok());
}

}  // namespace
}  // namespace rostersync::roster
