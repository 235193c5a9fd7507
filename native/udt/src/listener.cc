#include "listener.h"

#include <cstring>

namespace cumulus_udt {

namespace {
enum ListenerEventKind { kConnection = 0, kError = 1, kClose = 2 };
}  // namespace

struct AcceptEvent {
  explicit AcceptEvent(ListenerEventKind k) : kind(k) {}
  ListenerEventKind kind;
  UDTSOCKET socket = UDT::INVALID_SOCK;
  UdtError err;
};

void ListenerCallJs(Napi::Env env, Napi::Function callback, Listener*, AcceptEvent* raw) {
  std::unique_ptr<AcceptEvent> ev(raw);
  if (env == nullptr || callback.IsEmpty()) {
    // Nobody will wrap this connection any more.
    if (ev->kind == kConnection && UDT::close(ev->socket) == UDT::ERROR) LastError();
    return;
  }
  Napi::HandleScope scope(env);
  try {
    if (ev->kind == kConnection) {
      callback.Call({Napi::Number::New(env, kConnection), Napi::Number::New(env, ev->socket)});
    } else {
      callback.Call(
          {Napi::Number::New(env, kError), MakeJsError(env, ev->err, "accept").Value()});
    }
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
}

Listener::~Listener() {
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
}

void Listener::Start(Napi::Env env, Napi::Function onEvent) {
  onEvent_ = Napi::Persistent(onEvent);
  auto* keep = new std::shared_ptr<Listener>(shared_from_this());
  tsfn_ = ListenerTsfn::New(
      env, onEvent, "udt-listener", 0, 1, this,
      [](Napi::Env env, std::shared_ptr<Listener>* keep, Listener* self) {
        std::unique_ptr<std::shared_ptr<Listener>> owner(keep);
        self->Interrupt();
        self->Join();
        Untrack(self);
        Napi::FunctionReference cb = std::move(self->onEvent_);
        if (env != nullptr && !cb.IsEmpty()) {
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
    thread_ = std::thread([this] { AcceptMain(); });
  } catch (const std::system_error&) {
    tsfn_.Release();
    throw Napi::Error::New(env, "UDT_ETHREAD: could not start the accept thread");
  }
}

bool Listener::closing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closing_;
}

void Listener::CloseOnce() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (udtClosed_) return;
    udtClosed_ = true;
  }
  // On a listening socket this only flags it and wakes accept(); UDT releases the port
  // a few seconds later from its garbage collector.
  if (UDT::close(u_) == UDT::ERROR) LastError();
}

void Listener::Close(Napi::Env env) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    closing_ = true;
  }
  auto self = shared_from_this();
  RunInBackground(env, [self] { self->CloseOnce(); });
}

void Listener::Interrupt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  CloseOnce();
}

void Listener::Join() {
  std::lock_guard<std::mutex> lock(joinMutex_);
  if (thread_.joinable()) thread_.join();
}

void Listener::AcceptMain() {
  NameThread("udt-accept");
  for (;;) {
    auto* ev = new AcceptEvent(kConnection);
    sockaddr_storage peer;
    int len = sizeof(peer);
    ev->socket = UDT::accept(u_, reinterpret_cast<sockaddr*>(&peer), &len);
    if (ev->socket == UDT::INVALID_SOCK) {
      UdtError err = LastError();
      if (closing()) {
        delete ev;
        break;
      }
      ev->kind = kError;
      ev->err = err;
      if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
      break;
    }
    if (tsfn_.NonBlockingCall(ev) != napi_ok) {
      if (UDT::close(ev->socket) == UDT::ERROR) LastError();
      delete ev;
      break;
    }
  }
  tsfn_.Release();
}

// ---------------------------------------------------------------------------------------

Napi::Function ListenerWrap::Define(Napi::Env env) {
  return DefineClass(env, "UdtListener",
                     {
                         InstanceMethod<&ListenerWrap::Address>("address"),
                         InstanceMethod<&ListenerWrap::Close>("close"),
                         InstanceMethod<&ListenerWrap::Ref>("ref"),
                         InstanceMethod<&ListenerWrap::Unref>("unref"),
                     });
}

// new UdtListener(ip, port, backlog, options, onEvent): binds and listens synchronously;
// neither call waits on the network.
ListenerWrap::ListenerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ListenerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[4].IsFunction()) {
    throw Napi::TypeError::New(
        env, "UdtListener(ip: string, port: number, backlog: number, options, onEvent)");
  }
  std::string ip = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info[2].As<Napi::Number>().Int32Value();
  SocketOptions opts = ReadOptions(info[3]);
  std::string where = "listen " + ip + ":" + std::to_string(port);

  sockaddr_storage addr;
  int addrLen = 0;
  if (!ParseAddress(ip, port, &addr, &addrLen)) {
    throw Napi::TypeError::New(env, where + ": not an IP address");
  }
  UDTSOCKET u = UDT::socket(addr.ss_family, SOCK_STREAM, 0);
  if (u == UDT::INVALID_SOCK) throw MakeJsError(env, LastError(), where);
  UdtError err;
  bool ok = ApplyOptions(u, opts, &err);
  if (ok && UDT::bind(u, reinterpret_cast<sockaddr*>(&addr), addrLen) == UDT::ERROR) {
    err = LastError();
    ok = false;
  }
  if (ok) ForceUdpBuffers(u, opts);
  if (ok && UDT::listen(u, backlog) == UDT::ERROR) {
    err = LastError();
    ok = false;
  }
  if (!ok) {
    if (UDT::close(u) == UDT::ERROR) LastError();
    throw MakeJsError(env, err, where);
  }
  listener_ = std::make_shared<Listener>(u);
  Track(listener_);
  listener_->Start(env, info[4].As<Napi::Function>());
}

Napi::Value ListenerWrap::Address(const Napi::CallbackInfo& info) {
  return LocalAddress(info.Env(), listener_->socket());
}

Napi::Value ListenerWrap::Close(const Napi::CallbackInfo& info) {
  listener_->Close(info.Env());
  return info.Env().Undefined();
}

Napi::Value ListenerWrap::Ref(const Napi::CallbackInfo& info) {
  listener_->Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value ListenerWrap::Unref(const Napi::CallbackInfo& info) {
  listener_->Unref(info.Env());
  return info.Env().Undefined();
}

}  // namespace cumulus_udt
