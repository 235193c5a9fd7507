// A connected UDT socket exposed to JS as a byte stream with real backpressure.
#pragma once

#include "common.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

namespace cumulus_udt {

struct ConnEvent;
class Conn;

void ConnCallJs(Napi::Env env, Napi::Function callback, Conn* context, ConnEvent* data);
using ConnTsfn = Napi::TypedThreadSafeFunction<Conn, ConnEvent, ConnCallJs>;

struct WriteRequest {
  // Pointers into JS Buffers; lib/index.ts keeps those Buffers referenced until the
  // matching "written" event, so the memory stays valid while the writer thread reads it.
  std::vector<std::pair<const char*, size_t>> parts;
  size_t total = 0;
};

class Conn : public Tracked, public std::enable_shared_from_this<Conn> {
 public:
  // accepted: this side came from UDT::accept and waits for the connecting side's hello
  // before sending anything (see connection.cc).
  Conn(UDTSOCKET u, bool accepted) : u_(u), accepted_(accepted) {}
  ~Conn() override;

  void Start(Napi::Env env, Napi::Function onEvent);
  void SetReading(bool on);
  void Write(WriteRequest req);
  void End();
  void Abort(Napi::Env env);
  void Ref(Napi::Env env) { tsfn_.Ref(env); }
  void Unref(Napi::Env env) { tsfn_.Unref(env); }
  UDTSOCKET socket() const { return u_; }

  void Interrupt() override;
  void Join() override;

  // Called on the JS thread when a delivered chunk left the native queue.
  void ChunkDelivered();
  bool closedByUs() const;

 private:
  void ReaderMain();
  void WriterMain();
  bool ReadFrames(char* buf, size_t cap, size_t* filled, bool* eof, UdtError* err);
  bool ReadHeader(uint32_t* value, UdtError* err);
  bool SendAll(const char* p, size_t len, UdtError* err);
  bool SendFrame(const WriteRequest& req, UdtError* err);
  void WaitDrained();
  void Post(ConnEvent* ev);
  void FinishThread(bool reader);
  void CloseOnce();

  const UDTSOCKET u_;
  const bool accepted_;
  ConnTsfn tsfn_;
  Napi::FunctionReference onEvent_;
  std::thread reader_;
  std::thread writer_;
  std::mutex joinMutex_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wantRead_ = false;
  int inflight_ = 0;
  std::deque<WriteRequest> queue_;
  bool finRequested_ = false;
  bool aborting_ = false;
  bool readerDone_ = false;
  bool writerDone_ = false;
  bool udtClosed_ = false;
  bool helloReceived_ = false;

  // Frame parser state, touched only by the reader thread.
  unsigned char header_[4] = {0, 0, 0, 0};
  int headerHave_ = 0;
  uint64_t frameLeft_ = 0;
};

class ConnectionWrap : public Napi::ObjectWrap<ConnectionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ConnectionWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value LocalAddr(const Napi::CallbackInfo& info);
  Napi::Value PeerAddr(const Napi::CallbackInfo& info);

  std::shared_ptr<Conn> conn_;
};

// Closes a socket handle that never got wrapped in a ConnectionWrap.
Napi::Value CloseRawSocket(const Napi::CallbackInfo& info);

}  // namespace cumulus_udt
