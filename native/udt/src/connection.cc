#include "connection.h"

#include "ratecc.h"

#include <cstdlib>
#include <cstring>

namespace cumulus_udt {

namespace {

// Data crosses into JS in blocks of up to 1 MiB so the JS thread sees a few hundred
// callbacks per second at full speed instead of one per UDT packet.
constexpr size_t kReadChunk = 1 << 20;
// Blocks handed to JS but not yet pushed into the stream; with the stream's own buffer this
// bounds what is held in memory once the consumer stops reading.
constexpr int kMaxInflight = 2;
// Smaller blocks are copied into a right-sized Buffer rather than handed over.
constexpr size_t kCopyBelow = 64 * 1024;
// Frame header values (big-endian u32): 0 ends the stream, 1..2^31-1 is a data frame of
// that many bytes, and the upper half is for control frames.
constexpr uint32_t kFrameFin = 0;
constexpr uint32_t kFrameHello = 0x80000001u;
constexpr uint32_t kFrameControlBit = 0x80000000u;
// Frame payloads stay far below the 32-bit length field.
constexpr uint64_t kMaxFrame = uint64_t(1) << 30;
// The frame header goes out together with the first bytes of the payload, so small
// messages cost one UDT packet rather than two.
constexpr size_t kHeadCoalesce = 16 * 1024;

enum EventKind { kData = 0, kEnd = 1, kWritten = 2, kFinished = 3, kError = 4, kClose = 5 };

}  // namespace

struct ConnEvent {
  explicit ConnEvent(EventKind k) : kind(k) {}
  EventKind kind;
  char* data = nullptr;
  size_t len = 0;
  bool failed = false;
  UdtError err;
  std::string context;
};

void ConnCallJs(Napi::Env env, Napi::Function callback, Conn* conn, ConnEvent* raw) {
  std::unique_ptr<ConnEvent> ev(raw);
  if (env == nullptr || callback.IsEmpty()) {
    std::free(ev->data);
    return;
  }
  Napi::HandleScope scope(env);
  try {
    Napi::Value arg = env.Undefined();
    if (ev->kind == kData) {
      conn->ChunkDelivered();
      if (ev->len < kCopyBelow) {
        arg = Napi::Buffer<char>::Copy(env, ev->data, ev->len);
        std::free(ev->data);
      } else {
        arg = Napi::Buffer<char>::NewOrCopy(env, ev->data, ev->len,
                                            [](Napi::Env, char* p) { std::free(p); });
      }
      ev->data = nullptr;
    } else if (ev->failed) {
      arg = MakeJsError(env, ev->err, ev->context).Value();
    }
    callback.Call({Napi::Number::New(env, ev->kind), arg});
  } catch (const Napi::Error& e) {
    // A throwing 'data' or 'error' listener: surface it as Node does for any event handler.
    e.ThrowAsJavaScriptException();
  }
}

Conn::~Conn() {
  for (std::thread* t : {&reader_, &writer_}) {
    if (!t->joinable()) continue;
    if (t->get_id() == std::this_thread::get_id()) {
      t->detach();
    } else {
      t->join();
    }
  }
}

void Conn::Start(Napi::Env env, Napi::Function onEvent) {
  onEvent_ = Napi::Persistent(onEvent);
  auto* keep = new std::shared_ptr<Conn>(shared_from_this());
  tsfn_ = ConnTsfn::New(
      env, onEvent, "udt-connection", 0, 2, this,
      [](Napi::Env env, std::shared_ptr<Conn>* keep, Conn* conn) {
        std::unique_ptr<std::shared_ptr<Conn>> owner(keep);
        // Normally both threads have already finished; during environment teardown they may
        // still sit in UDT calls, and the TSFN is deleted right after this returns.
        conn->Interrupt();
        conn->Join();
        Untrack(conn);
        Napi::FunctionReference cb = std::move(conn->onEvent_);
        if (env != nullptr && !cb.IsEmpty()) {
          // During environment teardown JS can no longer run and the call fails; there is
          // nobody left to tell.
          try {
            Napi::HandleScope scope(env);
            cb.Call({Napi::Number::New(env, kClose)});
          } catch (...) {
          }
        }
        cb.Reset();
      },
      keep);
  try {
    reader_ = std::thread([this] { ReaderMain(); });
  } catch (const std::system_error&) {
    tsfn_.Release();
    tsfn_.Release();
    CloseOnce();
    throw Napi::Error::New(env, "UDT_ETHREAD: could not start the socket's reader thread");
  }
  try {
    writer_ = std::thread([this] { WriterMain(); });
  } catch (const std::system_error&) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      aborting_ = true;
      writerDone_ = true;
    }
    cv_.notify_all();
    tsfn_.Release();
    throw Napi::Error::New(env, "UDT_ETHREAD: could not start the socket's writer thread");
  }
}

void Conn::SetReading(bool on) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wantRead_ = on;
  }
  cv_.notify_all();
}

void Conn::ChunkDelivered() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inflight_--;
  }
  cv_.notify_all();
}

void Conn::Write(WriteRequest req) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(req));
  }
  cv_.notify_all();
}

void Conn::End() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finRequested_ = true;
  }
  cv_.notify_all();
}

void Conn::Abort(Napi::Env env) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborting_) return;
    aborting_ = true;
  }
  cv_.notify_all();
  // Closing is what wakes a thread blocked in UDT::send/recv.
  auto self = shared_from_this();
  RunInBackground(env, [self] { self->CloseOnce(); });
}

void Conn::Interrupt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborting_ = true;
  }
  cv_.notify_all();
  CloseOnce();
}

void Conn::Join() {
  std::lock_guard<std::mutex> lock(joinMutex_);
  if (reader_.joinable()) reader_.join();
  if (writer_.joinable()) writer_.join();
}

bool Conn::closedByUs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aborting_;
}

void Conn::CloseOnce() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (udtClosed_) return;
    udtClosed_ = true;
  }
  if (UDT::close(u_) == UDT::ERROR) LastError();
}

void Conn::Post(ConnEvent* ev) {
  if (tsfn_.NonBlockingCall(ev) != napi_ok) {
    std::free(ev->data);
    delete ev;
  }
}

void Conn::FinishThread(bool reader) {
  bool close = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    (reader ? readerDone_ : writerDone_) = true;
    if (readerDone_ && writerDone_ && !udtClosed_) {
      udtClosed_ = true;
      close = true;
    }
  }
  // Both directions are finished (or the socket is being torn down): what we sent was
  // acknowledged or the peer is already gone, so closing now loses nothing.
  if (close && UDT::close(u_) == UDT::ERROR) LastError();
  tsfn_.Release();
}

// Wire format (docs/adr/0006-udt-stream-framing.md): each write is sent as frames of
// [u32 big-endian length][payload]; a zero-length frame marks the end of the sender's stream.
// This gives UDT, which has no shutdown(SHUT_WR), a half-close, and lets the reader tell a
// finished stream from a connection that was cut.
bool Conn::ReadFrames(char* buf, size_t cap, size_t* filled, bool* eof, UdtError* err) {
  bool first = true;
  while (*filled < cap) {
    if (!first) {
      // Only the first receive may block; after that take what UDT already holds.
      int avail = 0;
      int len = sizeof(avail);
      if (UDT::getsockopt(u_, 0, UDT_RCVDATA, &avail, &len) == UDT::ERROR) {
        LastError();
        return true;
      }
      if (avail <= 0) return true;
    }
    first = false;
    if (frameLeft_ == 0) {
      int n = UDT::recv(u_, reinterpret_cast<char*>(header_) + headerHave_, 4 - headerHave_, 0);
      if (n == UDT::ERROR) {
        *err = LastError();
        return false;
      }
      headerHave_ += n;
      if (headerHave_ < 4) continue;
      headerHave_ = 0;
      uint32_t frame = (uint32_t(header_[0]) << 24) | (uint32_t(header_[1]) << 16) |
                       (uint32_t(header_[2]) << 8) | uint32_t(header_[3]);
      if (frame == kFrameFin) {
        *eof = true;
        return true;
      }
      if (frame & kFrameControlBit) {
        err->code = kProtocolError;
        err->message = "unexpected control frame from the peer";
        return false;
      }
      frameLeft_ = frame;
      continue;
    }
    size_t want = cap - *filled;
    if (want > frameLeft_) want = static_cast<size_t>(frameLeft_);
    int n = UDT::recv(u_, buf + *filled, static_cast<int>(want), 0);
    if (n == UDT::ERROR) {
      *err = LastError();
      return false;
    }
    *filled += static_cast<size_t>(n);
    frameLeft_ -= static_cast<uint64_t>(n);
  }
  return true;
}

bool Conn::ReadHeader(uint32_t* value, UdtError* err) {
  unsigned char h[4];
  int have = 0;
  while (have < 4) {
    int n = UDT::recv(u_, reinterpret_cast<char*>(h) + have, 4 - have, 0);
    if (n == UDT::ERROR) {
      *err = LastError();
      return false;
    }
    have += n;
  }
  *value = (uint32_t(h[0]) << 24) | (uint32_t(h[1]) << 16) | (uint32_t(h[2]) << 8) | uint32_t(h[3]);
  return true;
}

void Conn::ReaderMain() {
  NameThread("udt-read");
  if (accepted_) {
    // UDT 4.11 drops data that reaches a connecting socket before its handshake completed
    // (the packets sit in the connector's queue and are freed with it); the sender then only
    // retransmits once its expiry timer fires, which can take seconds while the peer keeps
    // talking. So the accepting side stays silent until the connecting side's hello proves
    // that handshake is over. The hello is read regardless of read credit: it is 4 bytes.
    uint32_t header = 0;
    UdtError err;
    bool ok = ReadHeader(&header, &err);
    if (ok && header != kFrameHello) {
      ok = false;
      err.code = kProtocolError;
      err.message = "the peer does not speak the Cumulus UDT framing (no hello)";
    }
    if (!ok) {
      if (!closedByUs()) {
        auto* ev = new ConnEvent(kError);
        ev->failed = true;
        ev->err = err;
        ev->context = "handshake";
        Post(ev);
      }
      FinishThread(true);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      helloReceived_ = true;
    }
    cv_.notify_all();
  }
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return aborting_ || (wantRead_ && inflight_ < kMaxInflight); });
      if (aborting_) break;
    }
    char* buf = static_cast<char*>(std::malloc(kReadChunk));
    if (buf == nullptr) {
      auto* ev = new ConnEvent(kError);
      ev->failed = true;
      ev->err = ErrorFromCode(3002);
      ev->context = "read";
      Post(ev);
      break;
    }
    size_t filled = 0;
    bool eof = false;
    UdtError err;
    bool ok = ReadFrames(buf, kReadChunk, &filled, &eof, &err);
    if (filled > 0) {
      if (filled < kReadChunk / 2) {
        if (char* smaller = static_cast<char*>(std::realloc(buf, filled))) buf = smaller;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        inflight_++;
      }
      auto* ev = new ConnEvent(kData);
      ev->data = buf;
      ev->len = filled;
      Post(ev);
    } else {
      std::free(buf);
    }
    if (eof) {
      Post(new ConnEvent(kEnd));
      break;
    }
    if (!ok) {
      if (!closedByUs()) {
        auto* ev = new ConnEvent(kError);
        ev->failed = true;
        ev->err = err;
        ev->context = err.code == 2001 ? "read (connection lost before the peer ended the stream)"
                                       : "read";
        Post(ev);
      }
      break;
    }
  }
  FinishThread(true);
}

bool Conn::SendAll(const char* p, size_t len, UdtError* err) {
  while (len > 0) {
    int chunk = len > (64u << 20) ? (64 << 20) : static_cast<int>(len);
    int n = UDT::send(u_, p, chunk, 0);
    if (n == UDT::ERROR) {
      *err = LastError();
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool Conn::SendFrame(const WriteRequest& req, UdtError* err) {
  size_t part = 0;
  size_t offset = 0;
  uint64_t remaining = req.total;
  std::vector<char> head;
  while (remaining > 0) {
    uint64_t frame = remaining > kMaxFrame ? kMaxFrame : remaining;
    remaining -= frame;
    size_t headPayload = frame < kHeadCoalesce ? static_cast<size_t>(frame) : kHeadCoalesce;
    head.resize(4 + headPayload);
    head[0] = static_cast<char>((frame >> 24) & 0xff);
    head[1] = static_cast<char>((frame >> 16) & 0xff);
    head[2] = static_cast<char>((frame >> 8) & 0xff);
    head[3] = static_cast<char>(frame & 0xff);
    // Copy the first bytes of the payload next to the header, then send the rest of the
    // frame straight from the JS buffers.
    size_t copied = 0;
    while (copied < headPayload) {
      const auto& [data, len] = req.parts[part];
      size_t take = std::min(len - offset, headPayload - copied);
      std::memcpy(head.data() + 4 + copied, data + offset, take);
      copied += take;
      offset += take;
      if (offset == len) {
        part++;
        offset = 0;
      }
    }
    if (!SendAll(head.data(), head.size(), err)) return false;
    uint64_t left = frame - headPayload;
    while (left > 0) {
      const auto& [data, len] = req.parts[part];
      size_t take = len - offset;
      if (take > left) take = static_cast<size_t>(left);
      if (!SendAll(data + offset, take, err)) return false;
      left -= take;
      offset += take;
      if (offset == len) {
        part++;
        offset = 0;
      }
    }
  }
  return true;
}

void Conn::WaitDrained() {
  // UDT has no "wait until acknowledged" call; poll the unacknowledged block count. A peer
  // that closes right after reading our end-of-stream marker can do so before its
  // acknowledgement reaches us, so a connection that ends while we wait is not an error
  // here: whether the peer ended cleanly shows on the read side (its end-of-stream marker,
  // or UDT_ECONNLOST without one).
  for (;;) {
    int pending = 0;
    int len = sizeof(pending);
    if (UDT::getsockopt(u_, 0, UDT_SNDDATA, &pending, &len) == UDT::ERROR) {
      LastError();
      return;
    }
    if (pending == 0 || UDT::getsockstate(u_) != CONNECTED) return;
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(2), [this] { return aborting_; })) return;
  }
}

void Conn::WriterMain() {
  NameThread("udt-write");
  if (!accepted_) {
    const char hello[4] = {char(kFrameHello >> 24), char((kFrameHello >> 16) & 0xff),
                           char((kFrameHello >> 8) & 0xff), char(kFrameHello & 0xff)};
    UdtError err;
    if (!SendAll(hello, sizeof(hello), &err)) {
      if (!closedByUs()) {
        auto* ev = new ConnEvent(kError);
        ev->failed = true;
        ev->err = err;
        ev->context = "handshake";
        Post(ev);
      }
      FinishThread(false);
      return;
    }
  }
  for (;;) {
    WriteRequest req;
    bool fin = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] {
        return aborting_ || ((helloReceived_ || !accepted_) && (!queue_.empty() || finRequested_));
      });
      if (aborting_) break;
      if (!queue_.empty()) {
        req = std::move(queue_.front());
        queue_.pop_front();
      } else {
        fin = true;
      }
    }
    UdtError err;
    if (!fin) {
      bool ok = req.total == 0 || SendFrame(req, &err);
      if (!ok && closedByUs()) break;
      auto* ev = new ConnEvent(kWritten);
      ev->failed = !ok;
      ev->err = err;
      ev->context = "write";
      Post(ev);
      if (!ok) break;
      continue;
    }
    static const char kFin[4] = {0, 0, 0, char(kFrameFin)};
    bool ok = SendAll(kFin, sizeof(kFin), &err);
    // Closing (once the read side is done too) discards whatever UDT still holds, so the
    // writer only finishes once the peer has everything or is gone.
    if (ok) WaitDrained();
    if (!ok && closedByUs()) break;
    auto* ev = new ConnEvent(kFinished);
    ev->failed = !ok;
    ev->err = err;
    ev->context = "end";
    Post(ev);
    break;
  }
  FinishThread(false);
}

// ---------------------------------------------------------------------------------------

Napi::Function ConnectionWrap::Define(Napi::Env env) {
  return DefineClass(env, "UdtConnection",
                     {
                         InstanceMethod<&ConnectionWrap::ReadStart>("readStart"),
                         InstanceMethod<&ConnectionWrap::ReadStop>("readStop"),
                         InstanceMethod<&ConnectionWrap::Write>("write"),
                         InstanceMethod<&ConnectionWrap::End>("end"),
                         InstanceMethod<&ConnectionWrap::Destroy>("destroy"),
                         InstanceMethod<&ConnectionWrap::Stats>("stats"),
                         InstanceMethod<&ConnectionWrap::Ref>("ref"),
                         InstanceMethod<&ConnectionWrap::Unref>("unref"),
                         InstanceMethod<&ConnectionWrap::LocalAddr>("localAddress"),
                         InstanceMethod<&ConnectionWrap::PeerAddr>("remoteAddress"),
                     });
}

ConnectionWrap::ConnectionWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ConnectionWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsFunction()) {
    throw Napi::TypeError::New(env,
                               "UdtConnection(handle: number, accepted: boolean, onEvent: function)");
  }
  conn_ = std::make_shared<Conn>(info[0].As<Napi::Number>().Int32Value(),
                                 info[1].As<Napi::Boolean>().Value());
  // Before the threads start, so the first data packet already gets its share of the rate.
  JoinRateGroup(conn_->socket());
  Track(conn_);
  conn_->Start(env, info[2].As<Napi::Function>());
}

Napi::Value ConnectionWrap::ReadStart(const Napi::CallbackInfo& info) {
  conn_->SetReading(true);
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::ReadStop(const Napi::CallbackInfo& info) {
  conn_->SetReading(false);
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    throw Napi::TypeError::New(env, "write(buffers: Buffer[])");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  WriteRequest req;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsBuffer()) throw Napi::TypeError::New(env, "write(): every chunk must be a Buffer");
    auto buf = v.As<Napi::Buffer<char>>();
    if (buf.Length() == 0) continue;
    req.parts.emplace_back(buf.Data(), buf.Length());
    req.total += buf.Length();
  }
  conn_->Write(std::move(req));
  return env.Undefined();
}

Napi::Value ConnectionWrap::End(const Napi::CallbackInfo& info) {
  conn_->End();
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::Destroy(const Napi::CallbackInfo& info) {
  conn_->Abort(info.Env());
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CPerfMon perf;
  if (UDT::perfmon(conn_->socket(), &perf, false) == UDT::ERROR) {
    LastError();
    return env.Null();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("msTimestamp", Napi::Number::New(env, double(perf.msTimeStamp)));
  o.Set("pktSentTotal", Napi::Number::New(env, double(perf.pktSentTotal)));
  o.Set("pktRecvTotal", Napi::Number::New(env, double(perf.pktRecvTotal)));
  o.Set("pktSndLossTotal", Napi::Number::New(env, perf.pktSndLossTotal));
  o.Set("pktRcvLossTotal", Napi::Number::New(env, perf.pktRcvLossTotal));
  o.Set("pktRetransTotal", Napi::Number::New(env, perf.pktRetransTotal));
  o.Set("mbpsSendRate", Napi::Number::New(env, perf.mbpsSendRate));
  o.Set("mbpsRecvRate", Napi::Number::New(env, perf.mbpsRecvRate));
  o.Set("msRTT", Napi::Number::New(env, perf.msRTT));
  o.Set("mbpsBandwidth", Napi::Number::New(env, perf.mbpsBandwidth));
  o.Set("pktFlightSize", Napi::Number::New(env, perf.pktFlightSize));
  o.Set("pktCongestionWindow", Napi::Number::New(env, perf.pktCongestionWindow));
  o.Set("usPktSndPeriod", Napi::Number::New(env, perf.usPktSndPeriod));
  o.Set("byteAvailSndBuf", Napi::Number::New(env, perf.byteAvailSndBuf));
  o.Set("byteAvailRcvBuf", Napi::Number::New(env, perf.byteAvailRcvBuf));
  return o;
}

Napi::Value ConnectionWrap::Ref(const Napi::CallbackInfo& info) {
  conn_->Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::Unref(const Napi::CallbackInfo& info) {
  conn_->Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::LocalAddr(const Napi::CallbackInfo& info) {
  return LocalAddress(info.Env(), conn_->socket());
}

Napi::Value ConnectionWrap::PeerAddr(const Napi::CallbackInfo& info) {
  return PeerAddress(info.Env(), conn_->socket());
}

Napi::Value CloseRawSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "closeSocket(handle: number)");
  }
  UDTSOCKET u = info[0].As<Napi::Number>().Int32Value();
  RunInBackground(env, [u] {
    if (UDT::close(u) == UDT::ERROR) LastError();
  });
  return env.Undefined();
}

}  // namespace cumulus_udt
