"""Twilio's REST error body: ``{"code", "message", "more_info", "status"}``."""


class TwilioApiError(Exception):
    def __init__(self, http_status: int, code: int, message: str, **extra):
        super().__init__(message)
        self.http_status = http_status
        self.payload = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": http_status,
            **extra,
        }


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")
