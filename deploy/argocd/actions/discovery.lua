-- Argo CD resource actions offered on federation.scaivault.io/FederationBackend.
local actions = {}
-- A manual sync: disabled for proxy mode (nothing to copy) and while suspended.
local mode = "sync"
local suspended = false
if obj.spec ~= nil then
  if obj.spec.mode ~= nil then
    mode = obj.spec.mode
  end
  suspended = obj.spec.suspend == true
end
actions["refresh"] = {["disabled"] = (mode ~= "sync" or suspended)}
return actions
