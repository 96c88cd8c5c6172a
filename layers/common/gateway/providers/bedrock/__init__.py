"""Amazon Bedrock through the Converse / ConverseStream API, called with the Lambda role's credentials."""
