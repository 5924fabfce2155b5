"""Several models in one server, and how default traffic moves between them: blue/green, canary, shadow.

`Deployment` holds the loaded models and routes each request (`route`); the servicer reports each
answer back (`answered`, `failed`) for the canary's guards and the shadow. `FaultyEngine` makes
any model misbehave, to rehearse a bad rollout. docs/deployment.md is the operator's guide.
"""

from asr_service.deployment._admin import ACTIONS, AdminApi
from asr_service.deployment._deployment import Deployment, Kept, NotLoadedError, Route
from asr_service.deployment._faults import FaultOptions, FaultyEngine, InjectedFault
from asr_service.deployment._guards import GUARDS, GuardOptions, GuardReading, SideWindow, judge
from asr_service.deployment._models import ModelSpec, ServedModel
from asr_service.deployment._shadow import ShadowComparisons, ShadowPair
from asr_service.deployment._state import DeploymentState, read_state, write_state

__all__ = [
           "ACTIONS",
           "GUARDS",
           "AdminApi",
           "Deployment",
           "DeploymentState",
           "FaultOptions",
           "FaultyEngine",
           "GuardOptions",
           "GuardReading",
           "InjectedFault",
           "Kept",
           "ModelSpec",
           "NotLoadedError",
           "Route",
           "ServedModel",
           "ShadowComparisons",
           "ShadowPair",
           "SideWindow",
           "judge",
           "read_state",
           "write_state",
]
