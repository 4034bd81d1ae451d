-- Argo CD health check of modelcanary.io/ModelRollout (the status the modelcanary operator writes).
--   Healthy      Initialized, Succeeded: the champion serves all traffic
--   Progressing  no status yet, a spec generation the operator has not observed, Initializing,
--                Progressing, Promoting, Finalising, Terminating
--   Suspended    paused (modelcanary pause, spec.suspend) or waiting for a person or a gate:
--                Waiting (confirm-rollout), WaitingPromotion (confirm-promotion), a pause step,
--                confirm-traffic-increase
--   Degraded     Failed (rolled back, aborted, inconclusive, deadline, provider error), or a spec
--                the operator cannot use (condition SpecValid=False)
--   Unknown      a phase this check does not know (a newer operator)
local hs = {}

local function text(value)
  if value == nil then
    return ""
  end
  return tostring(value)
end

local function int(value)
  return string.format("%d", value)
end

local function contains(haystack, needle)
  return string.find(haystack, needle, 1, true) ~= nil
end

local outcomes = {
  rolled_back = "rolled back",
  aborted = "aborted",
  inconclusive = "inconclusive",
  deadline = "not ready in time",
  ["error"] = "metrics provider failing",
}

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelcanary operator to reconcile the rollout"
  return hs
end

if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "SpecValid" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = "Invalid spec: " .. text(condition.message)
      return hs
    end
  end
end

local generation = nil
if obj.metadata ~= nil then
  generation = tonumber(obj.metadata.generation)
end
local observed = tonumber(status.observedGeneration)
if observed ~= nil and generation ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. int(generation)
    .. " (the status describes generation " .. int(observed) .. ")"
  return hs
end

local phase = text(status.phase)
local message = text(status.message)
local weight = tonumber(status.canaryWeight) or 0
local mirror = tonumber(status.mirrorWeight) or 0
local traffic = "challenger " .. int(weight) .. "%"
if mirror > 0 then
  traffic = traffic .. ", mirror " .. int(mirror) .. "%"
end

if phase == "Failed" then
  hs.status = "Degraded"
  local why = outcomes[text(status.outcome)] or "failed"
  if string.sub(message, 1, 13) == "rolled back: " then
    message = string.sub(message, 14)
  end
  hs.message = "Failed (" .. why .. "): " .. message
  return hs
end

if phase == "Terminating" then
  hs.status = "Progressing"
  hs.message = "Terminating: traffic back to the champion before deletion"
  return hs
end

local by_spec = obj.spec ~= nil and obj.spec.suspend == true
if status.paused == true or by_spec then
  local how = "modelcanary resume NAME --cluster"
  if by_spec then
    how = "set spec.suspend to false"
    if status.paused == true then
      how = how .. " and run modelcanary resume NAME --cluster"
    end
  end
  hs.status = "Suspended"
  hs.message = phase .. " (paused, " .. traffic .. "): " .. message .. "; to continue: " .. how
  return hs
end

if phase == "Waiting" then
  hs.status = "Suspended"
  hs.message = "Waiting for approval to start: " .. message
  return hs
end

if phase == "WaitingPromotion" then
  hs.status = "Suspended"
  hs.message = "Waiting for approval to promote (" .. traffic .. "): " .. message
  return hs
end

if phase == "Progressing" and (contains(message, "paused: waiting for approval")
    or contains(message, "waiting for confirm-traffic-increase")) then
  hs.status = "Suspended"
  hs.message = "Waiting for approval (" .. traffic .. "): " .. message
  return hs
end

if phase == "Initializing" or phase == "Progressing" or phase == "Promoting"
    or phase == "Finalising" then
  hs.status = "Progressing"
  hs.message = phase .. " (" .. traffic .. "): " .. message
  return hs
end

if phase == "Initialized" or phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = phase .. ": " .. message
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. phase .. ": " .. message
return hs
