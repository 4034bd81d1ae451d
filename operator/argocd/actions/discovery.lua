-- Argo CD resource actions of modelcanary.io/ModelRollout: which ones the UI offers now.
-- Each action writes the annotations `modelcanary <action> NAME --cluster` writes; the operator
-- applies it at its next tick. Enabled as the operator's state machine accepts them:
--   approve  a person is awaited: Waiting, WaitingPromotion, a pause step or a
--            confirm-traffic-increase gate
--   pause    a rollout is under way and not paused; resume: it is paused
--   abort    a challenger has not been decided yet (Initializing .. WaitingPromotion)
--   promote  a challenger is being analysed (Waiting, Progressing, WaitingPromotion)
--   retry    the last rollout failed (rolled back, aborted, ...)
local actions = {}
local status = obj.status or {}
local phase = status.phase or ""
local message = status.message or ""

local function contains(haystack, needle)
  return string.find(haystack, needle, 1, true) ~= nil
end

local active = phase == "Waiting" or phase == "Progressing" or phase == "WaitingPromotion"
local unstarted = phase == "Initializing" or phase == "Initialized"
local awaited = phase == "Waiting" or phase == "WaitingPromotion"
  or (phase == "Progressing" and (contains(message, "paused: waiting for approval")
    or contains(message, "waiting for confirm-traffic-increase")))
local running = active or phase == "Promoting" or phase == "Finalising"
local paused = status.paused == true

actions["approve"] = {["disabled"] = not awaited}
actions["pause"] = {["disabled"] = paused or not running}
actions["resume"] = {["disabled"] = not paused}
actions["abort"] = {["disabled"] = not (active or unstarted)}
actions["promote"] = {["disabled"] = not active}
actions["retry"] = {["disabled"] = phase ~= "Failed"}
return actions
