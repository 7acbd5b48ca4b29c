"""Commands for operators that span the layers (read Temporal's cases, write the read model with the projection's own
statements): the register rebuilt from Temporal."""
