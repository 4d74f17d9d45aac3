-- Argo CD health check for kubetune's HPOTask (kubetune.io/v1alpha1).
-- Pending and Running are Progressing, Suspended is Suspended, Succeeded and Stopped (by the user,
-- results kept) are Healthy, Failed (or a spec the operator found invalid) is Degraded. A status
-- older than the spec is Progressing.
local hs = {}
local status = obj.status

if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubetune operator to pick up the task"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Valid" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message or condition.reason or "The spec is invalid"
      return hs
    end
  end
end

-- "Running: 12/50 trials, best 0.9733 (digits-demo-7). <the operator's message>"
local message = status.phase
if status.progress ~= nil then
  message = message .. ": " .. status.progress .. " trials"
end
if status.bestTrial ~= nil and status.bestTrial.objective ~= nil then
  message = message .. ", best " .. tostring(status.bestTrial.objective)
  if status.bestTrial.name ~= nil then
    message = message .. " (" .. status.bestTrial.name .. ")"
  end
end
if status.message ~= nil and status.message ~= "" then
  message = message .. ". " .. status.message
end
hs.message = message

if status.phase == "Succeeded" or status.phase == "Stopped" then
  hs.status = "Healthy"
elseif status.phase == "Failed" then
  hs.status = "Degraded"
elseif status.phase == "Suspended" then
  hs.status = "Suspended"
elseif status.phase == "Pending" or status.phase == "Running" then
  hs.status = "Progressing"
else
  hs.status = "Unknown"
end
return hs
