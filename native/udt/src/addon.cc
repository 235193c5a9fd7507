// Entry point: only registers exports. The blocking work lives in connection.cc,
// listener.cc and connector.cc, each on its own native threads.
#include "common.h"
#include "connection.h"
#include "connector.h"
#include "listener.h"

namespace cumulus_udt {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallExitHandler();
  exports.Set("UdtConnection", ConnectionWrap::Define(env));
  exports.Set("UdtListener", ListenerWrap::Define(env));
  exports.Set("UdtConnectRequest", ConnectWrap::Define(env));
  exports.Set("closeSocket", Napi::Function::New(env, CloseRawSocket, "closeSocket"));
  return exports;
}

NODE_API_MODULE(udt, Init)

}  // namespace cumulus_udt
