from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class PagePagination(PageNumberPagination):
    """Every list: ?page=N&page_size=M (at most API_MAX_PAGE_SIZE), answered as
    {"count", "next", "previous", "results"}."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
