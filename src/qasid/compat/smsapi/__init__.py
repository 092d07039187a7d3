"""The key/brandID provider (seed ``003``), mounted at ``/smsapi`` by default: sending with
``key``, ``brandID``, ``numbers``, ``text``, ``stopList``, ``otp`` and ``sendTime`` (``api``), and
the delivery callback by GET with ``key, smsID, number, statusID, date`` (``callbacks``, a webhook
format; an account sets it up as a webhook endpoint with ``"format": "smsapi"``).
"""
