"""OpenAPI schema generation (drf-spectacular)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names a component after its view when the serializer is nested in one.

    Every view declares its own small `InputSerializer` / `OutputSerializer` (the house
    style); by class name alone they would all collide into one "Input" component.
    """

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            owner = qualname.split(".")[0]
            for suffix in ("Api", "View"):
                owner = owner.removesuffix(suffix)
            return f"{owner}{name}"
        return name
