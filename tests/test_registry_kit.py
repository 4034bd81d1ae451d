"""One ``Registry[T]`` shape for every plug-in family (issue 13 item 7).

Metric providers, notifiers and cluster routers each had their own dict, lookup and "unknown
name" error; now they share :class:`modelcanary._registry.Registry`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modelcanary._registry import Registry
from modelcanary.errors import SpecError
from modelcanary.notify import NOTIFIERS
from modelcanary.providers import PROVIDERS
from modelcanary.routers import ROUTERS


def test_every_family_is_one_registry_shape() -> None:
    for family in (PROVIDERS, NOTIFIERS, ROUTERS):
        assert isinstance(family, Registry)
        assert list(family) and len(family) == len(set(family))
    assert {"prometheus", "embedded", "datadog", "cloudwatch"} <= set(PROVIDERS)
    assert {"slack", "msteams", "webhook"} <= set(NOTIFIERS)
    assert {"istio", "nginx", "gatewayapi"} <= set(ROUTERS)


def test_unknown_name_is_a_spec_error_at_the_field_listing_known_names() -> None:
    plugins: Registry[int] = Registry("widget", {"b": 2, "a": 1})
    assert plugins.lookup("a") == 1
    with pytest.raises(SpecError) as caught:
        plugins.lookup("c", path="spec.widget.type")
    issue = caught.value.issues[0]
    assert issue.path == "spec.widget.type"
    assert issue.message == "unknown widget 'c'"
    assert issue.hint == "use one of: a, b"
    with pytest.raises(KeyError):
        plugins["c"]
    with pytest.raises(ValueError, match="registered twice"):
        plugins.add("a", 3)


def test_lazy_entries_import_their_module_on_first_lookup_only() -> None:
    probe = (
        "import json, sys\n"
        "from modelcanary.providers import PROVIDERS\n"
        "names = sorted(PROVIDERS)\n"
        "before = 'modelcanary.providers._cloudwatch' in sys.modules\n"
        "factory = PROVIDERS.lookup('cloudwatch')\n"
        "after = 'modelcanary.providers._cloudwatch' in sys.modules\n"
        "print(json.dumps([before, after, factory.__module__, 'cloudwatch' in names]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout) == [False, True, "modelcanary.providers._cloudwatch", True], (
        done.stderr
    )
