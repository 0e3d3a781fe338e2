"""edXML packages: model, builder, parser, validator, identifiers, status codes, Vietnam time.

Re-exports are added as the modules land; import from submodules meanwhile.
"""
