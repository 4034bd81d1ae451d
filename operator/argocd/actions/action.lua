-- Argo CD resource action on modelcanary.io/ModelRollout: ACTION (one script per action;
-- docs/argocd.md lists them). The annotations are those `modelcanary ACTION NAME --cluster`
-- writes; the id is new on every click, since the operator applies each id once.
local os = require("os") -- Argo CD's sandbox offers a safe os (date, time) through require
local kind = "ACTION"
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local at = os.date("!%Y-%m-%dT%H:%M:%SZ")
obj.metadata.annotations["modelcanary.io/action"] = kind
obj.metadata.annotations["modelcanary.io/action-id"] = "argocd-" .. kind .. "-" .. at
  .. "-" .. tostring(obj.metadata.resourceVersion or "")
obj.metadata.annotations["modelcanary.io/action-reason"] = "from Argo CD"
return obj
