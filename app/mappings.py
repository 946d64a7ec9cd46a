"""Statuses inferred through mappings: assess once, report against many.

A mapping file (controls/mappings/*.yaml, or mappings/ in an extra controls directory) relates the
requirements of a source framework to those of a target framework with a NIST IR 8477 set-theory
relationship, read "<source requirement> is <relationship> <target requirement>". A requirement
with no checks of its own and no current attestation takes its status from the requirements
mapped into it:

- equal or superset: the source covers the whole target, so the target carries the source's status;
- subset or intersect: the source covers only part of it, so a met source (pass, attested) gives
  only "partial", a source attested not applicable says nothing about the rest, and any other
  status carries as it is;
- not_related: recorded for the crosswalk, gives nothing;
- several sources: the most restrictive status wins;
- a source that is itself a manual requirement nobody attested is resolved through its own
  mappings in turn, up to MAX_DEPTH mappings from the requirement. A mapping back to a
  requirement already on the chain is skipped, and so is a source whose only say would come
  back along the chain; an unattested source with nothing mapped into it gives "not_attested".

Inference never overrides a requirement's own checks or a current attestation, and every inferred
status records the mappings and source statuses it came from.
"""

from __future__ import annotations

from app.catalog import Catalog
from app.models.assessment import RequirementStatus

MAX_DEPTH = 3

FULL_COVERAGE = ("equal", "superset")
PART_COVERAGE = ("subset", "intersect")
MET_STATUSES = (RequirementStatus.PASS.value, RequirementStatus.ATTESTED.value)

# Most restrictive first: of the statuses several sources give one requirement, the first listed wins.
# The two unscored statuses come last, so that they never hide what another source shows.
RESTRICTIVENESS = (
    RequirementStatus.FAIL.value,
    RequirementStatus.ERROR.value,
    RequirementStatus.NOT_ATTESTED.value,
    RequirementStatus.PARTIAL.value,
    RequirementStatus.ATTESTED.value,
    RequirementStatus.PASS.value,
    RequirementStatus.NO_DATA.value,
    RequirementStatus.NOT_APPLICABLE.value,
)
RANK = {status: i for i, status in enumerate(RESTRICTIVENESS)}

# How a relationship reads between a source and its target: "<source> <label> <target>".
RELATIONSHIP_LABELS = {
    "equal": "equals",
    "subset": "is a subset of",
    "superset": "is a superset of",
    "intersect": "intersects with",
    "not_related": "is not related to",
}


def carried_status(relationship: str, status: str) -> str | None:
    """The status a source with this status gives its target through one mapping; None when it gives none."""
    if relationship in FULL_COVERAGE:
        return status
    if relationship in PART_COVERAGE:
        if status in MET_STATUSES:
            return RequirementStatus.PARTIAL.value
        if status == RequirementStatus.NOT_APPLICABLE.value:
            return None
        return status
    return None


def most_restrictive(statuses) -> str:
    """The most restrictive of several statuses (a fail beats a partial beats a pass)."""
    return min(statuses, key=lambda s: RANK.get(s, -1))


def infer_statuses(catalog: Catalog, statuses: dict, *, max_depth: int = MAX_DEPTH) -> tuple[dict, dict]:
    """The statuses with inferred ones filled in, and {framework: {requirement: provenance}} of each."""
    if not catalog.mappings_into:
        return statuses, {}
    manual = {(f.id, r.id) for f in catalog.frameworks.values() for r in f.requirements if r.is_manual}

    def is_inferable(key: tuple[str, str]) -> bool:
        # No checks of its own and no current attestation: inference never overrides either.
        return key in manual and statuses.get(key[0], {}).get(key[1]) == RequirementStatus.NOT_ATTESTED.value

    def resolve(key: tuple[str, str], path: frozenset, depth: int) -> tuple[dict | None, bool]:
        """Its inferred status and sources (None if none), and whether a way back on the chain was skipped."""
        sources = []
        is_circular = False
        for mapping in catalog.mappings_into.get(key, ()):
            source = (mapping.source_framework, mapping.source)
            if mapping.relationship == "not_related":
                continue
            if source in path:
                is_circular = True
                continue
            entry = {
                "framework": mapping.source_framework,
                "requirement": mapping.source,
                "relationship": mapping.relationship,
                "rationale": mapping.rationale,
                "strength": mapping.strength,
                "mapping_set": mapping.mapping_set,
                "status": statuses.get(source[0], {}).get(source[1], RequirementStatus.NOT_ATTESTED.value),
            }
            if is_inferable(source):
                inner, inner_is_circular = (
                    resolve(source, path | {source}, depth - 1) if depth > 1 else (None, False)
                )
                if inner is not None:
                    entry["status"], entry["via"] = inner["status"], inner["sources"]
                elif inner_is_circular:
                    continue  # all it could say would come from this chain itself
                elif depth <= 1 and catalog.mappings_into.get(source):
                    entry["is_depth_limited"] = True
            entry["gives"] = carried_status(mapping.relationship, entry["status"])
            sources.append(entry)
        given = [s["gives"] for s in sources if s["gives"] is not None]
        if not given:
            return None, is_circular
        status = most_restrictive(given)
        for entry in sources:
            entry["is_decisive"] = entry["gives"] == status
        return {"status": status, "sources": sources}, is_circular

    result = {framework_id: dict(per) for framework_id, per in statuses.items()}
    inferences: dict[str, dict[str, dict]] = {}
    for framework_id, requirement_id in catalog.mappings_into:
        key = (framework_id, requirement_id)
        if not is_inferable(key):
            continue
        provenance, _ = resolve(key, frozenset({key}), max_depth)
        if provenance is not None:
            result[framework_id][requirement_id] = provenance["status"]
            inferences.setdefault(framework_id, {})[requirement_id] = provenance
    return result, inferences
