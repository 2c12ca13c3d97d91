#pragma once

// Internal to rosterctl's commands (commands*.cc): the Runner that executes one parsed command,
// the call and list helpers every command uses, and the formatting helpers the command groups
// share. Not part of the public API (commands.h).
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl::internal {

// A failure that is not an error of a call: a run that ended FAILED, a connection test that
// failed. Printed as "rosterctl: <command>: <message>" without a code.
absl::Status OutcomeFailure(absl::string_view message);
bool IsOutcomeFailure(const absl::Status& status);

// gRPC and Abseil share their code numbers.
absl::Status FromGrpc(const grpc::Status& status);

// Pages through a list call until `limit` items or the last page. `call` fetches one page of
// at most `page_size` for `token`, appends its items to the result and returns the next token.
absl::Status Paginate(int64_t limit, int max_page,
                      const std::function<absl::StatusOr<std::string>(
                          const std::string& token, int page_size, int64_t* received)>& call,
                      std::string* next_token);

// --port (default 22).
absl::StatusOr<int64_t> ParsePort(const ParsedArgs& args);
// Adds every --map "Source Header=field" to `header_map`; a source header given twice is a
// usage error.
absl::Status AddHeaderMappings(const ParsedArgs& args,
                               google::protobuf::Map<std::string, std::string>* header_map);

std::string YesNo(bool b);
std::string ImportStatusName(v1::ImportStatus status);
std::string TriggerName(v1::RunTrigger trigger);
// The counts and files of an import, as `imports show` and `runs show` print them.
void AddImportCounts(KeyValuePrinter& kv, const v1::ImportSummary& s);
// The row errors of an import as a table under a heading ("" when there are none).
std::string FormatRowErrors(const v1::ImportSummary& s);

class Runner {
 public:
  Runner(const ParsedArgs& args, CommandContext& ctx)
      : args_(args), ctx_(ctx), out_(*ctx.out), err_(*ctx.err) {}

  absl::Status Run();

 private:
  // How long a call may take: --timeout, or for imports and restores of large rosters (which
  // take minutes) an hour unless --timeout was given.
  enum class Deadline { kNormal, kLong };

  bool Json() const { return args_.global.output == OutputFormat::kJson; }
  const std::string& Tenant() const { return args_.global.tenant; }
  void SetDeadline(grpc::ClientContext* c, Deadline deadline = Deadline::kNormal) const;
  absl::Status PrintJson(const google::protobuf::Message& message);
  absl::StatusOr<int64_t> Limit(int64_t fallback) const;

  // One unary call of `method` on `stub` with a deadline.
  template <typename Stub, typename Request, typename Response>
  absl::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response,
                    Deadline deadline = Deadline::kNormal) {
    grpc::ClientContext c;
    SetDeadline(&c, deadline);
    return FromGrpc((stub->*method)(&c, request, response));
  }

  // A list command: collects up to `limit` items in pages of at most `max_page` (each page's
  // request is `base` with a page size and token), then prints the collected response as JSON,
  // or as a table of `columns` with the cells `row(item)` of each item and, when more items
  // exist, "(more <noun> exist; raise --limit)" on the error stream. `items(response)` is the
  // response's mutable repeated field of items.
  template <typename Stub, typename Request, typename Response, typename Items, typename Row>
  absl::Status List(int64_t limit, int max_page, Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& base, Items items, std::vector<std::string> columns, Row row,
                    absl::string_view noun) {
    Response all;
    std::string next;
    RETURN_IF_ERROR(Paginate(
        limit, max_page,
        [&](const std::string& token, int page_size,
            int64_t* received) -> absl::StatusOr<std::string> {
          Request request = base;
          request.set_page_size(page_size);
          request.set_page_token(token);
          Response page;
          RETURN_IF_ERROR(Call(stub, method, request, &page));
          *received = items(page)->size();
          for (auto& item : *items(page)) *items(all)->Add() = std::move(item);
          return page.next_page_token();
        },
        &next));
    all.set_next_page_token(next);
    if (Json()) return PrintJson(all);
    TablePrinter t(std::move(columns));
    for (const auto& item : *items(all)) t.AddRow(row(item));
    t.Print(out_);
    if (!next.empty()) err_ << "(more " << noun << " exist; raise --limit)\n";
    return absl::OkStatus();
  }

  // commands_integrations.cc
  absl::Status IntegrationsCreate();
  absl::Status IntegrationsList();
  absl::Status IntegrationsShow();
  absl::Status IntegrationsUpdate();
  absl::Status IntegrationsTest();
  absl::Status IntegrationsScanHostKey();
  absl::Status IntegrationsReprocess();
  absl::Status IntegrationsActivate();
  absl::Status IntegrationsDeactivate();
  absl::Status IntegrationsWindows();
  absl::Status IntegrationsReseal();
  absl::Status SetIntegrationActive(bool active);
  absl::Status PrintIntegration(const v1::Integration& integration);
  absl::StatusOr<v1::Integration> GetIntegration(const std::string& integration_id);
  // commands_runs.cc
  absl::Status RunsTrigger();
  absl::Status RunsShow();
  absl::Status RunsList();
  absl::Status RunsCancel();
  absl::Status RunsApprove();
  // commands_people.cc
  absl::Status PeopleList();
  absl::Status PeopleShow();
  absl::Status PeopleAssignSeat();
  absl::Status PrintPerson(const v1::Person& person);
  // commands_imports.cc
  absl::Status ImportsList();
  absl::Status ImportsShow();
  absl::Status ImportsPreviewOrUpload(bool preview);
  absl::Status ImportsErrors();
  absl::Status ImportsApprove();
  absl::StatusOr<v1::ImportSummary> GetImport(const std::string& import_id);
  // Streams local file `path` to UploadRoster after `header`; the summary the server returns.
  absl::StatusOr<v1::ImportSummary> UploadRoster(const std::string& path,
                                                 const v1::UploadRosterHeader& header);
  // Prints an import-like result: as JSON, or `preface` and then the diff (`diff`) or the
  // summary.
  absl::Status PrintImportResult(const v1::ImportSummary& s, bool diff,
                                 absl::string_view preface = "");
  // The outcome of an import-like call: exit 1 (an outcome failure) if REJECTED or FAILED.
  absl::Status ImportOutcome(const v1::ImportSummary& s, absl::string_view what);
  // commands_backups.cc
  absl::Status BackupsList();
  absl::Status BackupsDownload();
  absl::Status BackupsRestore();
  // Downloads archived file `file_id` into `path` ("" or "-": the output stream), verified.
  absl::Status DownloadFile(const std::string& file_id, const std::string& path);

  const ParsedArgs& args_;
  CommandContext& ctx_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace rostersync::rosterctl::internal
