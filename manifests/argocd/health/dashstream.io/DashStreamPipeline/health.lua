-- Argo CD health check of dashstream.io/DashStreamPipeline, from the object's own status.
-- Generated from ../../health.lua.in by `make generate`; do not edit.
--   Healthy      Ready=True, reported for the current metadata.generation
--   Progressing  no status yet; status or Ready for an older generation; Ready=Unknown;
--                Ready=False with a transient reason (the operator retries by itself)
--   Degraded     Ready=False for the current generation with any other reason: a refusal
--                or invalid input that needs a change to the spec, a Secret or Kafka
--                (InvalidSpec, PartitionDecreaseRefused, ReplicationChangeUnsupported,
--                TopicConflict, InvalidTopicConfig, KafkaSecretMissing, KafkaNotAuthorized,
--                KafkaError, ChildConflict (an object of a child's name is not ours),
--                RolloutFailed, ...)
--   Suspended    ReconcilePaused=True (annotation dashstream.io/paused: "true")
local hs = {}

-- Ready=False reasons that clear up without anyone changing anything.
local transientReasons = {
  KafkaUnavailable = true,
  TopicsPending = true,
  ReplicasUnavailable = true,
}

local function findCondition(conditions, conditionType)
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

-- A message when the status is older than the spec (metadata.generation), else nil.
local function staleMessage(obj, ready)
  local generation = obj.metadata.generation
  if generation == nil then
    return nil
  end
  local observed = obj.status.observedGeneration
  if ready.observedGeneration ~= nil then
    if observed == nil or ready.observedGeneration < observed then
      observed = ready.observedGeneration
    end
  end
  if observed == nil or observed ~= generation then
    return "Waiting for the operator to reconcile generation " .. tostring(generation) ..
      " (status is for generation " .. tostring(observed or "none") .. ")"
  end
  return nil
end

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

-- Other conditions that are False while Ready is True (e.g. a Warn validation policy).
local function warnings(conditions)
  local text = ""
  for _, condition in ipairs(conditions) do
    if condition.type ~= "Ready" and condition.status == "False" then
      if text ~= "" then
        text = text .. "; "
      end
      text = text .. condition.type .. " " .. (condition.reason or "False")
    end
  end
  return text
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end

-- Paused by annotation (dashstream.io/paused): the operator changes nothing, so the
-- other conditions are only what it last saw, and a newer generation waits on purpose.
local paused = findCondition(obj.status.conditions, "ReconcilePaused")
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(paused)
  return hs
end

local ready = findCondition(obj.status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local stale = staleMessage(obj, ready)
if stale ~= nil then
  hs.status = "Progressing"
  hs.message = stale
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "Ready"
  if obj.status.topicsReady ~= nil then
    hs.message = hs.message .. ", topics ready " .. obj.status.topicsReady
  end
  if obj.status.componentsReady ~= nil then
    hs.message = hs.message .. ", components ready " .. obj.status.componentsReady
  end
  local warned = warnings(obj.status.conditions)
  if warned ~= "" then
    hs.message = hs.message .. " (warnings: " .. warned .. ")"
  end
  return hs
end

if ready.status == "False" and not transientReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
return hs
