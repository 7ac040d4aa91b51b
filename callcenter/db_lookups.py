"""`field__any=[...]`: membership in a long list of values as one parameter.

`field__in` with a 20,000-id batch builds, sends and has PostgreSQL parse 20,000
placeholders, which costs far more than the query itself. `field = ANY(%s)` sends the
list as one array parameter instead; SQLite gets it as one JSON array (`json_each`), which
no limit on the number of query variables can refuse. `None` never matches, as with `__in`.
"""

import json

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup

_INTEGER_TYPES = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField"}


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def _target_field(self):
        field = self.lhs.output_field
        return getattr(field, "target_field", field)  # a foreign key compares its target's values

    def get_prep_lookup(self):
        return [getattr(value, "pk", value) for value in self.rhs if value is not None]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs
        field = self._target_field()
        # Ids read from the database need no preparing, and checking that is fast.
        if not (field.get_internal_type() in _INTEGER_TYPES and all(type(value) is int for value in values)):
            values = [field.get_db_prep_value(value, connection, prepared=False) for value in values]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, list(values))
        if not values:
            raise EmptyResultSet
        if connection.vendor == "sqlite":
            subquery = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (lhs: a compiled column)
            return subquery, (*lhs_params, json.dumps(list(values), default=str))
        placeholders = ", ".join(["%s"] * len(values))
        return f"{lhs} IN ({placeholders})", (*lhs_params, *values)


# Relation fields keep their own lookup table, so they need it registered too.
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
