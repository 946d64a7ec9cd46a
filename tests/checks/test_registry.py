"""The registry: check ids, function names and catalog keys agree."""

from app.catalog import load_catalog
from app.checks import DOMAIN_OF, REGISTRY, load_checks
from app.config import PROJECT_ROOT


def test_every_check_function_has_metadata_in_its_domain_and_a_docstring():
    load_checks()
    catalog = load_catalog([PROJECT_ROOT / "controls"])
    assert len(REGISTRY) == 39
    for check_id, function in REGISTRY.items():
        assert function.__doc__, check_id
        assert catalog.checks[check_id].domain == DOMAIN_OF[check_id]
