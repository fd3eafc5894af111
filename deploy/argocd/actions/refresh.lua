-- Argo CD resource action "refresh": ask the operator for a sync now by
-- setting the manual sync annotation to the current time (RFC 3339, UTC).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["federation.scaivault.io/sync-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
