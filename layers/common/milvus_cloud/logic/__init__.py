"""The rules: what each route and workflow step does, in terms of the data-access helpers."""
