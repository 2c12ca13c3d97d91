#pragma once

// A streaming decoder from the bytes of a roster file to UTF-8, fed chunks of any size (a chunk
// boundary may fall anywhere: inside a BOM, a UTF-8 sequence, a UTF-16 code unit or a surrogate
// pair). Memory stays bounded: at most the first 8 KiB are held back (see below), then every
// chunk is decoded and appended as it comes.
//
// Encodings (the integration's `encoding` setting, case-insensitive):
//   ""/"auto"        UTF-8 with or without a BOM, or UTF-16 LE/BE when the file starts with
//                    the matching BOM (FF FE / FE FF).
//   "utf-8"          UTF-8 (a BOM is stripped); invalid UTF-8 is an error.
//   "utf-16"         UTF-16 whose BOM says LE or BE (no BOM: error).
//   "utf-16le"/"utf-16be"  UTF-16 without (or with) a BOM.
//   "windows-1252"   also "cp1252", "latin1", "iso-8859-1" (decoded with the Windows-1252
//                    table, as browsers do): every byte is a character, 0x80-0x9F included.
// A byte order mark always wins over the configured encoding, and is never part of the output.
//
// Errors are INVALID_ARGUMENT and name the byte offset (0-based, in the raw file) and, for
// UTF-8, the line:
//  - invalid UTF-8 (suggests encoding "windows-1252"), a truncated sequence at the end;
//  - UTF-16: an odd trailing byte, an unpaired surrogate;
//  - "not a text file": a known binary signature at the start (zip/.xlsx, OLE2/.xls, PDF,
//    gzip, PNG, JPEG, GIF, 7z, RAR, ELF), any NUL character, or more than 10% control
//    characters (other than tab, LF, CR, FF) in the first 8 KiB. To decide this before any
//    output, the decoder holds back its output until it has seen 8 KiB or Finish().
// After an error the decoder stays failed and returns the same error.
//
// Streaming pipeline (what the importer does):
//
//   ASSIGN_OR_RETURN(TextDecoder decoder, TextDecoder::Create(integration.encoding, file_name));
//   std::string utf8;                        // decoded text not yet handed to the reader
//   for each raw chunk of the file:
//     RETURN_IF_ERROR(decoder.Feed(chunk, &utf8));
//     until a delimiter is chosen: keep appending; once utf8.size() >= kSniffBytes (64 KiB),
//       ChooseDelimiter(configured, file_name, utf8, /*whole_file=*/false)
//       (delimiter_sniffer.h) and build the CsvReader with it;
//     then: reader.Feed(utf8, &records); utf8.clear(); handle records.
//   RETURN_IF_ERROR(decoder.Finish(&utf8));  // then sniff if not yet done (whole_file=true),
//   reader.Feed(utf8, ...); reader.Finish(...).
//   decoder.encoding_name() / decoder.had_bom() say what was detected (for the import report).
//
// CsvTextReader (csv_text_reader.h) packages exactly this pipeline.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rostersync::roster {

enum class TextEncoding {
  kAuto,  // only as a requested encoding: detect from the BOM
  kUtf8,
  kUtf16,  // only as a requested encoding: LE or BE by the BOM
  kUtf16Le,
  kUtf16Be,
  kWindows1252,
};

// "auto", "utf-8", "utf-16", "utf-16le", "utf-16be", "windows-1252".
std::string_view TextEncodingName(TextEncoding encoding);

// Parses an encoding setting (see above). INVALID_ARGUMENT naming the value when unknown.
absl::StatusOr<TextEncoding> ParseTextEncoding(std::string_view name);

class TextDecoder {
 public:
  // Bytes examined for the "looks binary" check (and held back until decided).
  static constexpr size_t kSampleBytes = 8 * 1024;

  // `encoding` as in ParseTextEncoding. `file_name`, when not empty, starts every error message
  // ("roster.csv: ...").
  static absl::StatusOr<TextDecoder> Create(std::string_view encoding, std::string file_name = "");
  explicit TextDecoder(TextEncoding requested, std::string file_name = "");

  // Decodes `chunk`, appending UTF-8 to `out` (possibly nothing while the first bytes are held
  // back).
  absl::Status Feed(std::string_view chunk, std::string* out);
  // Ends the input: appends what was held back; errors on a truncated sequence at the end.
  absl::Status Finish(std::string* out);

  // The encoding actually used (kUtf8, kUtf16Le, kUtf16Be or kWindows1252) once known, which is
  // after the first 8 bytes or Finish(); before that, the requested one.
  TextEncoding encoding() const { return encoding_; }
  std::string_view encoding_name() const { return TextEncodingName(encoding_); }
  // The file started with a byte order mark (which was stripped).
  bool had_bom() const { return had_bom_; }
  // Raw bytes consumed so far.
  uint64_t bytes_in() const { return offset_; }

 private:
  absl::Status Fail(std::string message);
  absl::Status Start(std::string* out);  // decides the encoding from head_
  absl::Status Decode(std::string_view bytes, std::string* out);
  absl::Status DecodeUtf8(unsigned char b, std::string* out);
  absl::Status DecodeUtf16(unsigned char b, std::string* out);
  absl::Status Emit(uint32_t cp, uint64_t at, std::string* out);
  absl::Status EndSample(std::string* out);
  std::string Where(uint64_t at) const;

  TextEncoding requested_;
  TextEncoding encoding_;
  std::string file_name_;
  absl::Status error_;
  bool started_ = false;
  std::string head_;  // first bytes, until the encoding and signature checks are done
  bool had_bom_ = false;
  uint64_t offset_ = 0;  // raw offset of the next byte to decode

  // Sample check (first kSampleBytes of raw input).
  bool sampling_ = true;
  std::string held_;  // output held back while sampling
  uint64_t sample_controls_ = 0;
  uint64_t first_control_at_ = 0;
  uint32_t first_control_ = 0;

  // Line counting for messages (line breaks: LF, CRLF, lone CR).
  int64_t line_ = 1;
  bool prev_cr_ = false;

  // UTF-8 state.
  int need_ = 0;  // continuation bytes still expected
  uint32_t cp_ = 0;
  unsigned char lower_ = 0x80, upper_ = 0xBF;
  uint64_t seq_start_ = 0;
  std::string seq_;  // bytes of the current sequence (for messages)

  // UTF-16 state.
  int unit_bytes_ = 0;
  uint32_t unit_ = 0;
  uint32_t high_surrogate_ = 0;  // pending high surrogate, 0 if none
  uint64_t high_at_ = 0;
};

}  // namespace rostersync::roster
