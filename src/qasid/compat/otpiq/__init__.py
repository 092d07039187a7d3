"""OTPIQ (seed ``002``), mounted at ``/otpiq`` by default: ``POST /api/sms`` sends a verification
code over the channels ``provider`` names, and answers with the cost and the credit left."""
