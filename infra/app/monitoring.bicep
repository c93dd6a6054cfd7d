// Log Analytics and a workspace-based Application Insights resource, both accepting
// Entra ID authenticated data only. The app authenticates its telemetry with its managed
// identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and needs the Monitoring Metrics
// Publisher role on the App Insights resource (rbac.bicep) to be let in.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights resource.')
param appInsightsName string

@description('Region of both resources.')
param location string

@description('Tags for both resources.')
param tags object = {}

@description('Days the workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true // no workspace shared keys
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true // instrumentation key alone is not enough to send telemetry
  }
}

@description('Name of the Application Insights resource.')
output appInsightsName string = appInsights.name

@description('Connection string of Application Insights. Not a secret here: ingestion also needs an Entra ID token.')
output appInsightsConnectionString string = appInsights.properties.ConnectionString
