// A listening UDT socket; a native thread blocks in UDT::accept and hands new connections
// to JS.
#pragma once

#include "common.h"

#include <thread>

namespace cumulus_udt {

struct AcceptEvent;
class Listener;

void ListenerCallJs(Napi::Env env, Napi::Function callback, Listener* context, AcceptEvent* data);
using ListenerTsfn = Napi::TypedThreadSafeFunction<Listener, AcceptEvent, ListenerCallJs>;

class Listener : public Tracked, public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(UDTSOCKET u) : u_(u) {}
  ~Listener() override;

  void Start(Napi::Env env, Napi::Function onEvent);
  void Close(Napi::Env env);
  void Ref(Napi::Env env) { tsfn_.Ref(env); }
  void Unref(Napi::Env env) { tsfn_.Unref(env); }
  UDTSOCKET socket() const { return u_; }

  void Interrupt() override;
  void Join() override;

 private:
  void AcceptMain();
  void CloseOnce();
  bool closing() const;

  const UDTSOCKET u_;
  ListenerTsfn tsfn_;
  Napi::FunctionReference onEvent_;
  std::thread thread_;
  std::mutex joinMutex_;
  mutable std::mutex mu_;
  bool closing_ = false;
  bool udtClosed_ = false;
};

class ListenerWrap : public Napi::ObjectWrap<ListenerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ListenerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  std::shared_ptr<Listener> listener_;
};

}  // namespace cumulus_udt
