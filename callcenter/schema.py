"""OpenAPI: every operation documents the error answers every /api/ view can give, in the
one error shape (callcenter.api_errors)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from callcenter.serializers import ErrorSerializer, ValidationErrorSerializer

_COMMON_ERRORS = {
    "400": OpenApiResponse(ValidationErrorSerializer, description="Invalid input: `fields` names each problem."),
    "401": OpenApiResponse(ErrorSerializer, description="No or wrong credentials."),
    "403": OpenApiResponse(ErrorSerializer, description="Not allowed, or not a member of the business named."),
    "404": OpenApiResponse(ErrorSerializer, description="No such object in the request's business."),
    "429": OpenApiResponse(
        ErrorSerializer, description="Too many requests, or locked out after wrong tokens; see `Retry-After`."
    ),
}
_BODY_ERRORS = {
    "413": OpenApiResponse(ErrorSerializer, description="The request body is larger than this server accepts."),
}


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = dict(_COMMON_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            extra.update(_BODY_ERRORS)
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, ["application/json"], direction)
        return responses
