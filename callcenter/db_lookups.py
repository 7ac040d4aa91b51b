"""`field__any=[...]`: membership in a long list of values as one array parameter.

`field__in` with a 20,000-id batch builds, sends and has PostgreSQL parse 20,000
placeholders, which costs far more than the query itself. `field = ANY(%s)` sends the
list as one array parameter instead. Other databases get a plain `IN (...)`.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        values = list(self.rhs)
        if all(type(value) is int for value in values):
            return values  # ids read from the database: nothing to prepare, and fast to check
        field = self.lhs.output_field
        return [field.get_prep_value(value) for value in values]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, self.rhs)
        if not self.rhs:
            raise EmptyResultSet
        placeholders = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs} IN ({placeholders})", (*lhs_params, *self.rhs)


# Relation fields keep their own lookup table, so they need it registered too.
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
