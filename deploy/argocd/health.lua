-- Argo CD health check of federation.scaivault.io/FederationBackend.
--
-- Suspended    spec.suspend is true
-- Progressing  no status yet, status pending, or the operator has not yet
--              observed the latest generation (status.observedGeneration)
-- Healthy      status healthy for the current generation
-- Degraded     status degraded or error, with the operator's message
local hs = {}

local function ready_message(status)
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  if status.conditions ~= nil then
    for _, condition in ipairs(status.conditions) do
      if condition.type == "Ready" and condition.message ~= nil and condition.message ~= "" then
        return condition.message
      end
    end
  end
  return nil
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: no sync and no probe"
  return hs
end

local status = obj.status
if status == nil or status.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local message = ready_message(status)
if status.status == "healthy" then
  hs.status = "Healthy"
  hs.message = message or "Healthy"
elseif status.status == "pending" then
  hs.status = "Progressing"
  hs.message = message or "Waiting for the first sync"
elseif status.status == "degraded" or status.status == "error" then
  hs.status = "Degraded"
  hs.message = message or ("Backend is " .. status.status)
else
  hs.status = "Unknown"
  hs.message = "Unknown status " .. tostring(status.status)
end
return hs
