"""The diagnosis engine: rules over the run model that name what is going wrong."""

